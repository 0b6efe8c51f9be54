/**
 * Email threading (SPEC section 4): where an inbound or imported message belongs.
 *
 * Plain functions over plain data. The caller looks up the Message-IDs a message
 * names (its own, In-Reply-To, References) in the identity's Message-ID index and
 * passes what it found; {@link placeMessage} decides, and {@link indexEntries} says
 * which ids to record afterwards.
 *
 * The index holds every id a stored message has or references. Ids that were referenced
 * but never stored ("ghosts", RFC 5322 section 3.6.4 allows missing ancestors) map to
 * the conversation of the message that named them, so two replies to a missing root
 * still meet, and a parent imported after its child joins the child's conversation.
 */
import { normalizeSubject, isReplySubject } from './subject.js';

/**
 * Most ids kept from one References header: the first (the thread's root) and the
 * newest others, as RFC 5322 section 3.6.4 advises when trimming.
 */
export const MAX_REFERENCES = 200;

/** Threading-relevant fields of a parsed message. */
export interface ThreadingInput {
  /** Own Message-ID (no angle brackets), or null when the message has none. */
  readonly messageId: string | null;
  /** In-Reply-To ids, in header order. */
  readonly inReplyTo: readonly string[];
  /** References ids, oldest first. */
  readonly references: readonly string[];
  readonly subject: string | null;
}

/** What the Message-ID index knows of one id. */
export interface IndexedId {
  readonly conversationId: string;
  /** True when a message with this id is stored; false for a ghost (only referenced). */
  readonly stored: boolean;
}

export interface SubjectCandidate {
  readonly conversationId: string;
}

/**
 * Where a message goes. `linked` lists every distinct conversation its ids (own and
 * referenced) are known in, `conversationId` first: when there are several, the message
 * is the link that shows they are one thread, and the caller merges them (the oldest
 * survives) before storing it there.
 */
export type Placement =
  | { readonly kind: 'duplicate'; readonly conversationId: string; readonly linked: readonly string[] }
  | { readonly kind: 'join'; readonly conversationId: string; readonly linked: readonly string[]; readonly reason: 'reference' | 'referenced_by' | 'subject' }
  | { readonly kind: 'new' };

/** One token of a `References` or `In-Reply-To` value. */
type IdToken = { readonly kind: 'id'; readonly id: string } | { readonly kind: 'word'; readonly word: string };

const SPACE = /[\s,;]/;

/**
 * Splits a `References` / `In-Reply-To` value into bracketed ids and phrase words
 * (RFC 5322 section 3.6.4, and RFC 822's older `*(phrase / msg-id)`): comments (nested
 * parentheses, backslash escapes) are skipped, a quoted string is one phrase word,
 * `<…>` is an id with all whitespace removed (folding may have put some inside), and a
 * stray `<`, `>`, `)` or `"` is a separator.
 */
function idTokens(value: string): IdToken[] {
  const out: IdToken[] = [];
  const n = value.length;
  let i = 0;
  while (i < n) {
    const c = value[i]!;
    if (SPACE.test(c) || c === '>' || c === ')') { i++; continue; }
    if (c === '(') {
      let depth = 0;
      for (; i < n; i++) {
        const d = value[i]!;
        if (d === '\\') i++;
        else if (d === '(') depth++;
        else if (d === ')' && --depth === 0) { i++; break; }
      }
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      for (; j < n && value[j] !== '"'; j++) if (value[j] === '\\') j++;
      // An unterminated quote is a stray character, not a phrase swallowing the ids after it.
      if (j < n) out.push({ kind: 'word', word: value.slice(i + 1, j) });
      i = j < n ? j + 1 : i + 1;
      continue;
    }
    if (c === '<') {
      const close = value.indexOf('>', i + 1);
      const reopen = value.indexOf('<', i + 1);
      if (close === -1 || (reopen !== -1 && reopen < close)) { i++; continue; }
      const id = value.slice(i + 1, close).replace(/\s+/g, '');
      if (id) out.push({ kind: 'id', id });
      i = close + 1;
      continue;
    }
    let j = i;
    while (j < n && !SPACE.test(value[j]!) && !'()"<>'.includes(value[j]!)) j++;
    out.push({ kind: 'word', word: value.slice(i, j) });
    i = j;
  }
  return out;
}

/** Ids without repeats, first occurrence kept. */
const unique = (ids: readonly string[]) => [...new Set(ids)];

/** Without any bracketed id: the phrase words that hold an `@` (ids written bare). */
function bareIds(tokens: readonly IdToken[]): string[] {
  return tokens.flatMap((t) => (t.kind === 'word' && t.word.includes('@') && !/\s/.test(t.word) ? [t.word] : []));
}

/**
 * Parses the ids of a `References` header value (RFC 5322 section 3.6.4): every `<id>`
 * in order, comments and phrase words skipped; when the value has no complete `<id>` at
 * all, the words containing `@`. Whitespace inside an id is removed, so an id folded
 * over two lines compares equal to the same id written on one. Repeats are dropped
 * (first kept).
 */
export function parseMessageIds(value: string | null | undefined): string[] {
  if (!value) return [];
  const tokens = idTokens(value);
  const ids = tokens.flatMap((t) => (t.kind === 'id' ? [t.id] : []));
  return unique(ids.length > 0 ? ids : bareIds(tokens));
}

/**
 * Parses the ids of an `In-Reply-To` header value. The RFC 5322 form is a list of
 * `<id>`s (comments allowed between them), and then every one is a parent. Older clients
 * write RFC 822's phrase form, and some put the quoted author's address in angle
 * brackets there: exmh and nmh write `Message from Tom <tom@example.org> of "Mon, 05 Aug
 * 2002 21:39:59 EDT." <20020806014000.48D429E@example.org>`. The rule: a bracketed
 * token that ends a `from NAME <address>` phrase (after the word `from`, with no bare
 * address and no word `of` between) is the author's address, not an id, and is dropped;
 * every other bracketed id is a parent (`Message from tom@example.org of "…" <id>` keeps
 * its id).
 * Text without angle brackets names no id (Gnus writes `tom@example.org's message of
 * "…"`), as in notmuch. So an
 * address never becomes a parent, nor a ghost that would join the unrelated threads
 * replying to the same person. Elm's `<id> from "Tom" at …`, old mutt's
 * `<id>; from tom@example.org on …` and nmh's `Your message of "…" <id>` keep their id.
 */
export function parseInReplyTo(value: string | null | undefined): string[] {
  if (!value) return [];
  const tokens = idTokens(value);
  const ids: string[] = [];
  let afterFrom = false;
  for (const t of tokens) {
    if (t.kind === 'word') {
      // `from` starts the author's name-addr; a bare address or `of` ends it without one.
      if (/^from:?$/i.test(t.word)) afterFrom = true;
      else if (t.word.includes('@') || /^of$/i.test(t.word)) afterFrom = false;
      continue;
    }
    if (!afterFrom) ids.push(t.id);
    afterFrom = false;
  }
  return unique(ids);
}

/**
 * One Message-ID without its angle brackets, comments or any whitespace (folding may put
 * some inside); null when empty.
 */
export function normalizeMessageId(value: string | null | undefined): string | null {
  if (!value) return null;
  const first = parseMessageIds(value)[0];
  const id = first ?? value.replace(/\s+/g, '').replace(/^<|>$/g, '');
  return id === '' ? null : id;
}

/**
 * The referenced ids, most recent first: In-Reply-To (the direct parent), then
 * References from newest to oldest. The message's own id is left out (a References
 * loop must not make a message its own parent).
 */
export function referencedIds(input: ThreadingInput): string[] {
  const all = input.references;
  const refs = all.length <= MAX_REFERENCES ? all : [all[0]!, ...all.slice(-(MAX_REFERENCES - 1))];
  const ordered = [...input.inReplyTo, ...[...refs].reverse()];
  return [...new Set(ordered)].filter((id) => id !== input.messageId);
}

/** Every id the index must be asked about for this message. */
export function lookupIds(input: ThreadingInput): string[] {
  const ids = referencedIds(input);
  return input.messageId ? [input.messageId, ...ids] : ids;
}

export interface PlaceOptions {
  /** SPEC 4 rule 3: switchable, off by default. */
  readonly subjectFallback: boolean;
}

/**
 * Decides where a message goes. Every id a message names (its own, In-Reply-To,
 * References) links it into one thread, as in notmuch and JWZ's algorithm, so the
 * conversations those ids are known in are one (`linked`): the result does not depend
 * on the order messages arrive in.
 *
 * 1. Its own Message-ID is already stored → `duplicate` (stored once, SPEC 4 rule 5);
 *    its references still link.
 * 2. Some referenced id is known → `join`; `conversationId` is the most recent
 *    reference's (In-Reply-To first, then References newest first).
 * 3. A stored message referenced this one's id before it arrived → `join` that one.
 * 4. With subject fallback on, a `Re:` subject without reference headers joins the
 *    candidate the caller found (same counterpart, recent, same normalized subject).
 * 5. Otherwise → `new`.
 *
 * @param known index entries for {@link lookupIds}, keyed by id.
 * @param subjectCandidate the caller's subject-fallback match, if it looked for one.
 */
export function placeMessage(
  input: ThreadingInput,
  known: ReadonlyMap<string, IndexedId>,
  options: PlaceOptions,
  subjectCandidate: SubjectCandidate | null = null,
): Placement {
  const own = input.messageId ? known.get(input.messageId) : undefined;
  const referenced = referencedIds(input).flatMap((id) => {
    const hit = known.get(id);
    return hit ? [hit.conversationId] : [];
  });
  if (own?.stored) return { kind: 'duplicate', conversationId: own.conversationId, linked: unique([own.conversationId, ...referenced]) };
  if (referenced.length > 0) {
    return { kind: 'join', conversationId: referenced[0]!, linked: unique([...referenced, ...(own ? [own.conversationId] : [])]), reason: 'reference' };
  }
  if (own) return { kind: 'join', conversationId: own.conversationId, linked: [own.conversationId], reason: 'referenced_by' };
  if (options.subjectFallback && subjectCandidate && wantsSubjectFallback(input)) {
    return { kind: 'join', conversationId: subjectCandidate.conversationId, linked: [subjectCandidate.conversationId], reason: 'subject' };
  }
  return { kind: 'new' };
}

/** Whether subject fallback may apply: a reply subject and no reference headers. */
export function wantsSubjectFallback(input: ThreadingInput): boolean {
  return input.inReplyTo.length === 0 && input.references.length === 0 && isReplySubject(input.subject);
}

/** The key a subject-fallback lookup compares: the subject without `Re:`/`Fwd:` chains. */
export function subjectKey(subject: string | null): string {
  return normalizeSubject(subject).toLowerCase();
}

/**
 * Index rows to write once the message is stored in `conversationId`: its own id as
 * stored, and each referenced id the index does not know yet as a ghost. Ids already
 * indexed elsewhere keep their conversation.
 */
export function indexEntries(
  input: ThreadingInput,
  known: ReadonlyMap<string, IndexedId>,
  conversationId: string,
): { readonly id: string; readonly stored: boolean; readonly conversationId: string }[] {
  const rows: { id: string; stored: boolean; conversationId: string }[] = [];
  if (input.messageId) rows.push({ id: input.messageId, stored: true, conversationId });
  for (const id of referencedIds(input)) {
    if (!known.has(id)) rows.push({ id, stored: false, conversationId });
  }
  return rows;
}
