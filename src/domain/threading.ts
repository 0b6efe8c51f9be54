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

export type Placement =
  | { readonly kind: 'duplicate'; readonly conversationId: string }
  | { readonly kind: 'join'; readonly conversationId: string; readonly reason: 'reference' | 'referenced_by' | 'subject' }
  | { readonly kind: 'new' };

/**
 * Parses the ids of a `References` or `In-Reply-To` header value (RFC 5322 section 3.6.4):
 * `<id>` tokens in order; when a value has no complete `<id>` at all, whitespace- or
 * comma-separated words containing `@`. Repeats are dropped (first kept).
 */
export function parseMessageIds(value: string | null | undefined): string[] {
  if (!value) return [];
  const ids: string[] = [];
  const bracketed = value.match(/<[^<>]*>/g);
  if (bracketed) {
    for (const b of bracketed) {
      const id = b.slice(1, -1).replace(/\s+/g, '');
      if (id) ids.push(id);
    }
  } else {
    // A lone `<` or `>` (a truncated or half-bracketed id) is a separator, not id text.
    for (const w of value.split(/[\s,<>]+/)) if (w.includes('@')) ids.push(w);
  }
  return [...new Set(ids)];
}

/** One Message-ID without its angle brackets or surrounding space; null when empty. */
export function normalizeMessageId(value: string | null | undefined): string | null {
  if (!value) return null;
  const first = parseMessageIds(value)[0];
  const id = first ?? value.trim().replace(/^<|>$/g, '').trim();
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
 * Decides where a message goes.
 *
 * 1. Its own Message-ID is already stored → `duplicate` (stored once, SPEC 4 rule 5).
 * 2. The most recent referenced id the index knows → `join` that conversation
 *    (all referenced ids count, SPEC 4 rules 1 and 2).
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
  if (own?.stored) return { kind: 'duplicate', conversationId: own.conversationId };
  for (const id of referencedIds(input)) {
    const hit = known.get(id);
    if (hit) return { kind: 'join', conversationId: hit.conversationId, reason: 'reference' };
  }
  if (own) return { kind: 'join', conversationId: own.conversationId, reason: 'referenced_by' };
  if (options.subjectFallback && subjectCandidate && wantsSubjectFallback(input)) {
    return { kind: 'join', conversationId: subjectCandidate.conversationId, reason: 'subject' };
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
