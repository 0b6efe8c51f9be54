/**
 * Reply subjects (SPEC section 4, rule 4): chains of `Re:`, `RE:`, `Fwd:`, `Fw:`,
 * `Aw:` and `Re[2]:` prefixes collapse into one `Re:`. A mailing-list tag (`[list]`)
 * may sit before or among them (`[list] Re: Topic`, `Re: [list] Re: Topic`).
 */

const PREFIX = /^\s*(?:(?:re|fwd?|aw|sv|antw)(?:\s*\[\d+\]|\s*\(\d+\))?\s*[:：]\s*)+/i;
const REPLY_PREFIX = /^\s*(?:\[[^\]]*\]\s*)*(?:re|aw|sv|antw)(?:\s*\[\d+\]|\s*\(\d+\))?\s*[:：]/i;
const LIST_TAG = /^\s*\[[^\]]*\]\s*/;

/**
 * The subject without its reply and forward prefixes; `''` for none. Leading list tags
 * are kept once each, in front: `Re: [list] Re: Topic` → `[list] Topic`.
 */
export function normalizeSubject(subject: string | null | undefined): string {
  if (!subject) return '';
  const tags: string[] = [];
  let rest = subject;
  // Bounded: a hostile subject of thousands of tags must not cost quadratic time.
  for (let i = 0; i < 32; i++) {
    const before = rest;
    rest = rest.replace(PREFIX, '');
    const tag = LIST_TAG.exec(rest);
    if (tag) {
      const t = tag[0].trim();
      if (!tags.includes(t)) tags.push(t);
      rest = rest.slice(tag[0].length);
    }
    if (rest === before) break;
  }
  return [...tags, rest.trim()].filter((p) => p !== '').join(' ');
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
