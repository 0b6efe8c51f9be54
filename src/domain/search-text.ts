/**
 * Full-text search, the store-independent half: what a word is, which words of a message
 * are indexed, how a query string becomes terms, and the highlighted snippet of a match.
 *
 * Both stores index the tokens made here (SQLite FTS5 with its `ascii` tokenizer over
 * them, PostgreSQL `array_to_tsvector`), so a word matches the same way on both, and the
 * snippet marks exactly the words the index matched. There is no stemming and no stop
 * list: mail is in every language, and a query word finds that word (`invoice*` finds
 * `invoices`).
 */
import type { EmailAddress } from './events.js';
import { htmlToText } from './snippet.js';

/** Longest token kept, in code points; a longer word is cut to this length, in the index and in queries alike. */
export const MAX_TOKEN_LENGTH = 64;
/** Characters of a body that are indexed (and searched for a snippet); the rest of a long body is not. */
export const MAX_INDEXED_BODY = 100_000;
/** Markup read from an HTML-only body before converting it to text. */
const MAX_INDEXED_HTML = 4 * MAX_INDEXED_BODY;
/** Fewest characters before a `*` for a prefix term; a shorter one matches as a whole word. */
export const MIN_PREFIX_LENGTH = 2;
/** Length of a snippet, in characters, before the ellipses. */
export const SEARCH_SNIPPET_LENGTH = 200;

/** A word of a text: its normalized form and where it stands in the text (UTF-16 offsets). */
export interface TokenSpan {
  readonly token: string;
  readonly start: number;
  readonly end: number;
}

/**
 * The normalized forms of one run of letters, digits and marks: compatibility-decomposed
 * (NFKD), lower-cased, diacritics dropped, split where decomposition left something
 * other than a letter or digit (`½` is `1` and `2`), each cut to {@link MAX_TOKEN_LENGTH}.
 */
function normalizeWord(word: string): string[] {
  // A run of ASCII letters and digits is its own NFKD form and has no marks to drop: it
  // is one token, lower-cased. Most words of most mail take this path.
  if (ASCII.test(word)) return [word.slice(0, MAX_TOKEN_LENGTH).toLowerCase()];
  const folded = word.normalize('NFKD').toLowerCase().replace(/\p{M}+/gu, '');
  return folded.split(/[^\p{L}\p{N}]+/u).filter((t) => t !== '').map(cut);
}

/** Only ASCII characters (a word of the tokenizer that matches is only letters and digits). */
const ASCII = /^[\x00-\x7f]*$/;

function cut(token: string): string {
  if (token.length <= MAX_TOKEN_LENGTH) return token;
  return Array.from(token).slice(0, MAX_TOKEN_LENGTH).join('');
}

/**
 * The words of `text` with their positions: runs of Unicode letters and digits (with their
 * combining marks), normalized by {@link normalizeWord}. Everything else separates words,
 * so `ann@buyer.test` is `ann`, `buyer`, `test`.
 */
export function tokenSpans(text: string): TokenSpan[] {
  const out: TokenSpan[] = [];
  for (const m of text.matchAll(WORD)) {
    const start = m.index, end = start + m[0].length;
    for (const token of normalizeWord(m[0])) out.push({ token, start, end });
  }
  return out;
}

/** A word of a text, as {@link tokenSpans} finds it. */
const WORD = /[\p{L}\p{N}][\p{L}\p{N}\p{M}]*/gu;

/**
 * The distinct normalized words of some texts: the tokens of {@link tokenSpans}, each once.
 * Each distinct word of the texts is normalized once (mail repeats its words).
 */
export function searchTokens(...texts: readonly string[]): string[] {
  const words = new Set<string>();
  for (const text of texts) for (const word of text.match(WORD) ?? []) words.add(word);
  const tokens = new Set<string>();
  for (const word of words) for (const token of normalizeWord(word)) tokens.add(token);
  return [...tokens];
}

/** What of a message is searchable. */
export interface SearchableMessage {
  readonly subject: string | null;
  readonly text: string | null;
  readonly html: string | null;
  readonly from: EmailAddress | null;
  readonly to: readonly EmailAddress[];
  readonly cc: readonly EmailAddress[];
}

/** The body as searched: the text part, or the HTML part as text when there is no text; the first {@link MAX_INDEXED_BODY} characters. */
export function searchBody(m: Pick<SearchableMessage, 'text' | 'html'>): string {
  const body = m.text?.trim() ? m.text : m.html ? htmlToText(m.html.slice(0, MAX_INDEXED_HTML)) : '';
  return body.slice(0, MAX_INDEXED_BODY);
}

/** The From, To and Cc addresses with their display names, as one line (`Ann Lee <ann@buyer.test>, …`). */
export function addressLine(m: Pick<SearchableMessage, 'from' | 'to' | 'cc'>): string {
  const all = [...(m.from ? [m.from] : []), ...m.to, ...m.cc];
  return all.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');
}

/** The distinct words a message is found by: its subject, body, addresses and display names. */
export function messageTokens(m: SearchableMessage): string[] {
  return searchTokens(m.subject ?? '', searchBody(m), addressLine(m));
}

/** One word of a query: a whole word, or (`prefix`) any word that starts with it. */
export interface SearchTerm {
  readonly token: string;
  readonly prefix: boolean;
}

/**
 * The terms of a query string. Every word must match (AND); punctuation separates words
 * as it does in the indexed text (so `ann@buyer.test` looks for `ann`, `buyer` and `test`),
 * and a `*` right after a word of {@link MIN_PREFIX_LENGTH} or more characters makes it a
 * prefix. Nothing else is syntax: quotes, `-`, `OR` and parentheses are words or separators.
 *
 * @returns the distinct terms; empty when the query has no letter or digit.
 */
export function parseSearchQuery(q: string): SearchTerm[] {
  const terms = new Map<string, SearchTerm>();
  for (const m of q.matchAll(/[\p{L}\p{N}][\p{L}\p{N}\p{M}]*(\*?)/gu)) {
    const tokens = normalizeWord(m[0].replace(/\*$/, ''));
    tokens.forEach((token, i) => {
      const prefix = m[1] === '*' && i === tokens.length - 1 && Array.from(token).length >= MIN_PREFIX_LENGTH
        && Array.from(token).length < MAX_TOKEN_LENGTH;
      terms.set(`${prefix ? '*' : '='}${token}`, { token, prefix });
    });
  }
  return [...terms.values()];
}

/** Whether a normalized word is matched by a term. */
export function termMatches(term: SearchTerm, token: string): boolean {
  return term.prefix ? token.startsWith(term.token) : token === term.token;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

/**
 * The snippet of a matching message: a window of about {@link SEARCH_SNIPPET_LENGTH}
 * characters of the body (or else the subject, or else the address line, whichever holds
 * the most of the query's words) around the first match, whitespace collapsed. It is HTML:
 * each matched word is wrapped in `<mark>`…`</mark>`, everything else is escaped, and `…`
 * stands for text cut at either end.
 *
 * @returns the snippet, or null when no part of the message holds a term (the match was
 *   in text cut from a very long body, which the index also does not hold).
 */
export function searchSnippet(m: SearchableMessage, terms: readonly SearchTerm[]): string | null {
  let best: { text: string; hits: TokenSpan[]; distinct: number } | null = null;
  for (const source of [searchBody(m), m.subject ?? '', addressLine(m)]) {
    const text = source.replace(/\s+/g, ' ').trim();
    const hits = tokenSpans(text).filter((s) => terms.some((t) => termMatches(t, s.token)));
    const distinct = terms.filter((t) => hits.some((s) => termMatches(t, s.token))).length;
    if (distinct > (best?.distinct ?? 0)) best = { text, hits, distinct };
  }
  if (!best) return null;
  const { text, hits } = best;
  // Start a little before the first match, at a word boundary, and run to the window's end.
  let from = Math.max(0, hits[0]!.start - Math.floor(SEARCH_SNIPPET_LENGTH / 4));
  if (from > 0) {
    const space = text.indexOf(' ', from);
    from = space !== -1 && space < hits[0]!.start ? space + 1 : hits[0]!.start;
  }
  let to = Math.min(text.length, from + SEARCH_SNIPPET_LENGTH);
  if (to < text.length) {
    const space = text.lastIndexOf(' ', to);
    if (space > hits[0]!.end) to = space;
    else to = Math.max(to, hits[0]!.end);
    // Never split a surrogate pair (an emoji) in half.
    if (/[\uD800-\uDBFF]/.test(text.charAt(to - 1))) to--;
  }
  let out = from > 0 ? '…' : '';
  let at = from;
  for (const hit of hits) {
    if (hit.start < at) continue; // one word normalized to several tokens
    if (hit.end > to) break;
    out += `${escapeHtml(text.slice(at, hit.start))}<mark>${escapeHtml(text.slice(hit.start, hit.end))}</mark>`;
    at = hit.end;
  }
  out += escapeHtml(text.slice(at, to));
  return to < text.length ? `${out}…` : out;
}
