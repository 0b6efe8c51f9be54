/**
 * The router's pure rules for shared lines (SMS, iMessage; SPEC section 2): what a text
 * says to the router (an opt-out keyword, a routing code, or plain conversation), what a
 * routing code may be, and the connection lifecycle. No storage here: services/router.ts
 * applies these inside one transaction.
 */

/**
 * Opt-out keywords: a whole message that is one of these (trimmed, any case) releases
 * the person's connection. They are Twilio's default opt-out keywords, which carriers
 * honour too (Twilio Messaging: "Advanced Opt-Out", default keywords).
 */
export const STOP_WORDS = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT'] as const;

/**
 * Words that cannot be routing codes: the opt-out keywords above, and Twilio's default
 * opt-in (START, YES, UNSTOP) and help (HELP, INFO) keywords, which the provider answers
 * itself.
 */
export const RESERVED_KEYWORDS: readonly string[] = [...STOP_WORDS, 'START', 'YES', 'UNSTOP', 'HELP', 'INFO'];

/** A routing code as stored: 2-32 ASCII letters or digits, upper-case. */
export const ROUTING_CODE_PATTERN = /^[A-Z0-9]{2,32}$/;

/** Lifecycle of one connection row; a person who reconnects gets a new row (active again). */
export type ConnectionStatus = 'active' | 'released';
export const CONNECTION_STATUSES: readonly ConnectionStatus[] = ['active', 'released'];

/** Why a connection was released: the person texted a stop word, or `POST /v1/connections/{id}/release`. */
export type ReleaseReason = 'stop' | 'api';

/** Allowed transitions of a connection, checked in one place ({@link canTransition}). */
const TRANSITIONS: Record<ConnectionStatus, readonly ConnectionStatus[]> = {
  active: ['released'],
  released: [],
};

/** Whether a connection in `from` may move to `to`. */
export function canTransition(from: ConnectionStatus, to: ConnectionStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * A routing code as stored and compared: upper-cased.
 *
 * @returns the code, or null when `input` is not 2-32 ASCII letters or digits.
 */
export function normalizeRoutingCode(input: string): string | null {
  const code = input.trim().toUpperCase();
  return ROUTING_CODE_PATTERN.test(code) ? code : null;
}

/** Whether the whole message (trimmed, any case) is an opt-out keyword. */
export function isStopWord(text: string | null): boolean {
  if (text === null) return false;
  return (STOP_WORDS as readonly string[]).includes(text.trim().toUpperCase());
}

/**
 * The routing code a message may carry: its first word (split on whitespace, with
 * punctuation around it dropped: `"sales!"`, `"(SALES)"`), upper-cased, when it has the
 * shape of a code. Whether an identity has that code is the caller's question.
 *
 * @returns the candidate code, or null.
 */
export function candidateCode(text: string | null): string | null {
  if (text === null) return null;
  const first = text.trim().split(/\s+/u)[0] ?? '';
  const bare = first.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
  return normalizeRoutingCode(bare);
}
