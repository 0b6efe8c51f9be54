/**
 * Reply subjects (SPEC section 4, rule 4): chains of `Re:`, `RE:`, `Fwd:`, `Fw:`,
 * `Aw:` and `Re[2]:` prefixes collapse into one `Re:`.
 */

const PREFIX = /^\s*(?:(?:re|fwd?|aw|sv|antw)(?:\s*\[\d+\]|\s*\(\d+\))?\s*[:：]\s*)+/i;
const REPLY_PREFIX = /^\s*(?:re|aw|sv|antw)(?:\s*\[\d+\]|\s*\(\d+\))?\s*[:：]/i;

/** The subject without its reply and forward prefixes; `''` for none. */
export function normalizeSubject(subject: string | null | undefined): string {
  if (!subject) return '';
  return subject.replace(PREFIX, '').trim();
}

/** `Re: <original>`, with any chain of prefixes trimmed to one `Re:`. */
export function replySubject(subject: string | null | undefined): string {
  const base = normalizeSubject(subject);
  return base ? `Re: ${base}` : 'Re:';
}

/** Whether the subject starts as a reply does (`Re:`, `AW:`, `Re[2]:` …). */
export function isReplySubject(subject: string | null | undefined): boolean {
  return !!subject && REPLY_PREFIX.test(subject);
}
