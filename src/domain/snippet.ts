/**
 * Message previews: the new text of a message without the quoted reply, signature or
 * markup, on one line. The full body is always kept; this is only the summary.
 */
import EmailReplyParser from 'email-reply-parser';
import { compile } from 'html-to-text';

/** Longest preview, in characters. */
export const SNIPPET_LENGTH = 200;

/**
 * Only the head of a long body is examined, growing until it yields a full preview: the
 * quoted-reply parser costs about 0.2 µs per character (0.45 ms for 2,000), so most
 * messages stop at the first, shortest head.
 */
const TEXT_SCANS = [600, 2_400, 8_000];
/** The same for HTML bodies, in characters of markup converted to text. */
const HTML_SCANS = [8_000, 32_000];

/** Deepest HTML nesting turned into text; real mail stays far below it. */
export const MAX_HTML_DEPTH = 200;

/** The HTML-to-text converter, compiled once (compiling costs more than converting). */
const convertHtml = compile({
  wordwrap: false,
  // Markup nested deeper than this is not walked (its text is dropped): the converter
  // recurses per level, and hostile mail nests thousands of levels to overflow the stack.
  limits: { maxDepth: MAX_HTML_DEPTH },
  selectors: [
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
  ],
});

/** Plain text of an HTML body (links and images dropped), for previews and search. */
export function htmlToText(html: string): string {
  return convertHtml(html);
}

/** Text of the HTML body's head: enough for a preview, without converting megabytes. */
function htmlHeadText(html: string): string {
  let text = '';
  for (const scan of HTML_SCANS) {
    text = htmlToText(html.slice(0, scan));
    if (text.length >= TEXT_SCANS[0]! || html.length <= scan) break;
  }
  return text;
}

/**
 * The preview of a message body: visible (non-quoted) text, whitespace collapsed,
 * cut at {@link SNIPPET_LENGTH} characters with an ellipsis. Falls back to the whole
 * text when everything is quoted (a bare forward).
 */
export function snippetOf(text: string | null, html: string | null): string {
  const source = text?.trim() ? text : html ? htmlHeadText(html) : '';
  const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
  let head = '', visible = '';
  for (const scan of TEXT_SCANS) {
    head = source.slice(0, scan).replace(/\r\n?/g, '\n');
    const parts = replyParts(head);
    visible = oneLine(parts.visible);
    // Enough text, all of it, or a quoted reply after the new text: a longer head
    // would not change the start of the preview.
    if (visible.length > SNIPPET_LENGTH || source.length <= scan || (visible && parts.quoted)) break;
  }
  const line = visible || oneLine(head);
  if (line.length <= SNIPPET_LENGTH) return line;
  let cut = SNIPPET_LENGTH - 1;
  // Never split a surrogate pair (an emoji) in half: a lone surrogate is not text.
  if (/[\uD800-\uDBFF]/.test(line.charAt(cut - 1))) cut--;
  return `${line.slice(0, cut).trimEnd()}…`;
}

/** The text without quoted replies and signatures (email-reply-parser), and whether it had a quote. */
function replyParts(text: string): { visible: string; quoted: boolean } {
  try {
    const email = new EmailReplyParser().read(text);
    return { visible: email.getVisibleText(), quoted: email.getFragments().some((f) => f.isQuoted()) };
  } catch {
    return { visible: text, quoted: false };
  }
}

/**
 * The new text of a message body: without the quoted reply and signature
 * (email-reply-parser), line breaks kept, for readers that pay per character (the MCP
 * tools). When everything is quoted (a bare forward) the whole text is kept.
 *
 * @param text the message's plain text.
 * @returns `text`, trimmed, and `trimmed`: whether a quoted part or signature was left out.
 */
export function replyText(text: string): { text: string; trimmed: boolean } {
  const whole = text.replace(/\r\n?/g, '\n').trim();
  const visible = replyParts(whole).visible.trim();
  return visible && visible !== whole ? { text: visible, trimmed: true } : { text: whole, trimmed: false };
}
