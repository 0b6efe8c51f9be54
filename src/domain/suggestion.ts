/**
 * The suggestion lifecycle (SPEC section 2, "suggestion"): an AI-drafted reply is
 * `pending` until it is `sent` (maybe edited) or `dismissed`; both are final.
 *
 * A send through the suggestion passes through `sending` while the channel delivers it:
 * the claim that keeps a second send (another operator clicking at the same moment) from
 * mailing the customer twice. The relay accepting the message makes it `sent`; a relay
 * failure returns it to `pending`, so the draft can be sent again. A claim older than
 * {@link SEND_CLAIM_TTL_MS} was left by a process that died mid-send and counts as
 * `pending` again.
 *
 * Every change goes through {@link transition}, the one place the table of allowed
 * transitions is checked.
 */
import { AppError } from '../errors.js';

export const SUGGESTION_STATUSES = ['pending', 'sending', 'sent', 'dismissed'] as const;
export type SuggestionStatus = (typeof SUGGESTION_STATUSES)[number];

/**
 * What can happen to a suggestion:
 * - `send`: a send through the suggestion starts (claims it);
 * - `accept`: the channel accepted that send;
 * - `fail`: the channel refused it, or the send could not start;
 * - `answer`: a human replied in the conversation in its place;
 * - `dismiss`: a human discarded it.
 */
export type SuggestionAction = 'send' | 'accept' | 'fail' | 'answer' | 'dismiss';

/** The allowed transitions; anything not listed is refused. */
export const SUGGESTION_TRANSITIONS: Readonly<Record<SuggestionStatus, Readonly<Partial<Record<SuggestionAction, SuggestionStatus>>>>> = {
  pending: { send: 'sending', answer: 'sent', dismiss: 'dismissed' },
  sending: { accept: 'sent', fail: 'pending' },
  sent: {},
  dismissed: {},
};

/** How long a send may hold its claim before the suggestion counts as pending again, ms (as the idempotency claim). */
export const SEND_CLAIM_TTL_MS = 5 * 60 * 1000;

/**
 * The status a stored suggestion is in at `nowMs`: a `sending` claim older than
 * {@link SEND_CLAIM_TTL_MS} (by `updatedAt`, RFC 3339) is `pending` again.
 */
export function currentStatus(stored: SuggestionStatus, updatedAt: string, nowMs: number): SuggestionStatus {
  if (stored === 'sending' && nowMs - Date.parse(updatedAt) > SEND_CLAIM_TTL_MS) return 'pending';
  return stored;
}

/** The status `action` leads to from `from`, or null when the table does not allow it. */
export function nextStatus(from: SuggestionStatus, action: SuggestionAction): SuggestionStatus | null {
  return SUGGESTION_TRANSITIONS[from][action] ?? null;
}

/**
 * Applies `action` to a suggestion in status `from`.
 *
 * @returns the new status.
 * @throws AppError `suggestion_not_pending` (409) when the table does not allow it.
 */
export function transition(from: SuggestionStatus, action: SuggestionAction): SuggestionStatus {
  const to = nextStatus(from, action);
  if (to !== null) return to;
  const why = from === 'sending' ? 'is being sent right now' : `is already ${from}`;
  throw new AppError('suggestion_not_pending', `The suggestion ${why}; only a pending suggestion can be ${action === 'dismiss' ? 'dismissed' : 'sent'}.`);
}

/** Whether the sent text differs from the draft (exact comparison: the pair keeps both texts). */
export function isEdited(draft: string, sent: string): boolean {
  return draft !== sent;
}
