/**
 * Message previews: the new text of a message without the quoted reply, signature or
 * markup, on one line. The full body is always kept; this is only the summary.
 */
import EmailReplyParser from 'email-reply-parser';
import { convert } from 'html-to-text';

/** Longest preview, in characters. */
export const SNIPPET_LENGTH = 200;

/**
 * Only the head of a long body is examined (the quoted-reply parser is regex-heavy and
 * its cost grows with the text): first {@link FIRST_SCAN} characters, and up to
 * {@link SCAN_CHARS} when the short head leaves too little visible text.
 */
const FIRST_SCAN = 2_000;
const SCAN_CHARS = 8_000;

/** Plain text of an HTML body (links and images dropped), for previews and search. */
export function htmlToText(html: string): string {
  return convert(html.slice(0, SCAN_CHARS * 4), {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
    ],
  });
}

/**
 * The preview of a message body: visible (non-quoted) text, whitespace collapsed,
 * cut at {@link SNIPPET_LENGTH} characters with an ellipsis. Falls back to the whole
 * text when everything is quoted (a bare forward).
 */
export function snippetOf(text: string | null, html: string | null): string {
  const source = text?.trim() ? text : html ? htmlToText(html) : '';
  const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
  let head = '', visible = '';
  for (const scan of [FIRST_SCAN, SCAN_CHARS]) {
    head = source.slice(0, scan).replace(/\r\n?/g, '\n');
    visible = oneLine(visibleText(head));
    if (visible.length > SNIPPET_LENGTH || source.length <= scan) break;
  }
  const line = visible || oneLine(head);
  if (line.length <= SNIPPET_LENGTH) return line;
  let cut = SNIPPET_LENGTH - 1;
  // Never split a surrogate pair (an emoji) in half: a lone surrogate is not text.
  if (/[\uD800-\uDBFF]/.test(line.charAt(cut - 1))) cut--;
  return `${line.slice(0, cut).trimEnd()}…`;
}

/** The text without quoted replies and signatures (email-reply-parser). */
function visibleText(text: string): string {
  try {
    return new EmailReplyParser().read(text).getVisibleText();
  } catch {
    return text;
  }
}
