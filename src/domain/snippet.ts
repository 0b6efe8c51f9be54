/**
 * Message previews: the new text of a message without the quoted reply, signature or
 * markup, on one line. The full body is always kept; this is only the summary.
 */
import EmailReplyParser from 'email-reply-parser';
import { convert } from 'html-to-text';

/** Longest preview, in characters. */
export const SNIPPET_LENGTH = 200;

/** Only the head of a long body is examined (the quoted-reply parser is regex-heavy). */
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
  const head = source.slice(0, SCAN_CHARS).replace(/\r\n?/g, '\n');
  let visible = '';
  try {
    visible = new EmailReplyParser().read(head).getVisibleText();
  } catch {
    visible = head;
  }
  const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
  const line = oneLine(visible) || oneLine(head);
  return line.length > SNIPPET_LENGTH ? `${line.slice(0, SNIPPET_LENGTH - 1).trimEnd()}…` : line;
}
