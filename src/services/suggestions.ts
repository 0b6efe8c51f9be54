/**
 * Suggestion commands (SPEC section 6, "AI suggestions"): an agent proposes a draft, a
 * human sends it (maybe edited) or dismisses it. Each change goes through the state
 * machine of domain/suggestion.ts and appends its timeline event in the same transaction.
 *
 * Every send that answers a draft leaves a training pair (draft, sent text, edited or
 * not, model, agent, who sent it): a send through the suggestion, and a plain reply sent
 * while a suggestion was pending ({@link answerPendingSuggestion}).
 */
import type { Transaction } from 'kysely';
import { isoNow, systemClock, type Clock } from '../clock.js';
import { currentStatus, isEdited, SEND_CLAIM_TTL_MS, transition, type SuggestionStatus } from '../domain/suggestion.js';
import { notFound } from '../errors.js';
import { newId } from '../ids.js';
import { findConversation } from '../store/conversations.js';
import type { Database } from '../store/schema.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import {
  findSuggestion, insertSuggestion, insertTrainingPair, newestPendingSuggestion, updateSuggestion, type SuggestionRow,
} from '../store/suggestions.js';
import { appendEvents, type ConversationRow } from '../store/timeline.js';
import { actorOf, type Principal } from './access.js';
import { sendReply, type SendResult } from './send-email.js';

export interface SuggestionInput {
  readonly text: string;
  /** Provenance: the model that drafted it. */
  readonly model?: string | null;
  /** Provenance: the agent that drafted it. */
  readonly agent?: string | null;
}

/** What a send answered a draft with. */
export interface SentReply {
  readonly conversationId: string;
  /** `msg_…` id of the message the channel accepted. */
  readonly messageId: string;
  /** The text that went out. */
  readonly text: string;
}

/** The instant before which a `sending` claim is stale (RFC 3339). */
export function staleClaimsBefore(clock: Clock): string {
  return new Date(clock.now() - SEND_CLAIM_TTL_MS).toISOString();
}

/** A stored suggestion's status now (a stale `sending` claim is `pending`). */
export function statusOf(row: SuggestionRow, clock: Clock = systemClock): SuggestionStatus {
  return currentStatus(row.status as SuggestionStatus, row.updated_at, clock.now());
}

async function conversationIn(tx: Transaction<Database>, orgId: string, id: string): Promise<ConversationRow> {
  const row = await findConversation(tx, orgId, id);
  if (!row) throw notFound('conversation');
  return row;
}

async function suggestionIn(tx: Transaction<Database>, orgId: string, conversationId: string, id: string): Promise<SuggestionRow> {
  const row = await findSuggestion(tx, orgId, conversationId, id);
  if (!row) throw notFound('suggestion');
  return row;
}

/**
 * Records a draft for the conversation and appends `suggestion_created`.
 *
 * @param conversationId a conversation the caller may see (the route checks visibility).
 * @returns the new row, status `pending`.
 * @throws AppError `not_found` (the conversation).
 */
export async function createSuggestion(
  store: Store, p: Principal, conversationId: string, input: SuggestionInput, clock: Clock = systemClock,
): Promise<SuggestionRow> {
  return inOrgTransaction(store, p.orgId, async (tx) => {
    const conversation = await conversationIn(tx, p.orgId, conversationId);
    const at = isoNow(clock);
    const row: SuggestionRow = {
      id: newId('sug'), org_id: p.orgId, conversation_id: conversation.id, text: input.text,
      model: input.model ?? null, agent: input.agent ?? null, status: 'pending',
      sent_message_id: null, sent_text: null, edited: null, created_at: at, updated_at: at,
    };
    await insertSuggestion(tx, row);
    await appendEvents(tx, conversation, [{
      type: 'suggestion_created', at, data: { suggestion_id: row.id, text: row.text, model: row.model, agent: row.agent },
    }]);
    return row;
  });
}

/**
 * Dismisses a pending suggestion and appends `suggestion_dismissed`.
 *
 * @throws AppError `not_found` (conversation or suggestion), `suggestion_not_pending`.
 */
export async function dismissSuggestion(
  store: Store, p: Principal, conversationId: string, id: string, clock: Clock = systemClock,
): Promise<SuggestionRow> {
  return inOrgTransaction(store, p.orgId, async (tx) => {
    const conversation = await conversationIn(tx, p.orgId, conversationId);
    const row = await suggestionIn(tx, p.orgId, conversation.id, id);
    const status = transition(statusOf(row, clock), 'dismiss');
    const at = isoNow(clock);
    await updateSuggestion(tx, p.orgId, row.id, { status, updated_at: at });
    await appendEvents(tx, conversation, [{ type: 'suggestion_dismissed', at, data: { suggestion_id: row.id, by: actorOf(p) } }]);
    return { ...row, status, updated_at: at };
  });
}

/**
 * Marks a suggestion sent (`accept` after its own send, `answer` after a plain reply),
 * appends `suggestion_sent` and records the training pair, all in `tx`.
 */
async function markSent(
  tx: Transaction<Database>, conversation: ConversationRow, row: SuggestionRow, from: SuggestionStatus,
  action: 'accept' | 'answer', sent: SentReply, p: Principal, at: string,
): Promise<SuggestionRow> {
  const status = transition(from, action);
  const edited = isEdited(row.text, sent.text);
  const patch = { status, sent_message_id: sent.messageId, sent_text: sent.text, edited: edited ? 1 : 0, updated_at: at };
  await updateSuggestion(tx, p.orgId, row.id, patch);
  await appendEvents(tx, conversation, [{
    type: 'suggestion_sent', at,
    data: { suggestion_id: row.id, text: sent.text, edited, message_id: sent.messageId, by: actorOf(p) },
  }]);
  await insertTrainingPair(tx, {
    id: newId('tp'), org_id: p.orgId, conversation_id: conversation.id, suggestion_id: row.id, message_id: sent.messageId,
    draft: row.text, sent_text: sent.text, edited: edited ? 1 : 0, model: row.model, agent: row.agent,
    sent_by_member_id: p.memberId, sent_by_key_id: p.keyId, created_at: at,
  });
  return { ...row, ...patch };
}

/**
 * Sends a pending suggestion as a reply in its conversation (the draft, or `text` when
 * the human edited it) through `deliver` (by default {@link sendReply}, email; the route
 * passes the conversation's channel).
 *
 * Order: the suggestion is first claimed (`sending`, committed), so a second send of it
 * gets 409 instead of mailing the customer twice; then the message is sent. Once the
 * send is committed (an email queued or captured, a channel message the provider took)
 * the suggestion becomes `sent`, with `suggestion_sent` and the training pair, in one
 * transaction. A provider failure or a send that could not start returns it to
 * `pending` with no event, and the draft can be sent again.
 *
 * @returns the send's result (`status: 'failed'` when the provider refused; the caller
 *   answers 502) and the suggestion after it.
 * @throws AppError `not_found` (conversation or suggestion), `suggestion_not_pending`,
 *   and whatever {@link sendReply} throws (the suggestion is pending again).
 */
export async function sendSuggestion(
  store: Store, p: Principal, conversationId: string, id: string, input: { readonly text?: string }, clock: Clock = systemClock,
  deliver: (text: string) => Promise<SendResult> = (text) => sendReply(store, p.orgId, conversationId, { text }, clock),
): Promise<{ result: SendResult; suggestion: SuggestionRow }> {
  const { orgId } = p;
  const claim = await inOrgTransaction(store, orgId, async (tx) => {
    const row = await suggestionIn(tx, orgId, conversationId, id);
    const status = transition(statusOf(row, clock), 'send');
    const claimedAt = isoNow(clock);
    await updateSuggestion(tx, orgId, row.id, { status, updated_at: claimedAt });
    return { row, claimedAt };
  });
  // The claim is ours while the row still says `sending` since `claimedAt`: a send that
  // outlived SEND_CLAIM_TTL_MS may have been taken over, and then changes nothing here.
  const ours = (row: SuggestionRow | undefined): row is SuggestionRow => row?.status === 'sending' && row.updated_at === claim.claimedAt;
  const release = () => inOrgTransaction(store, orgId, async (tx) => {
    const row = await findSuggestion(tx, orgId, conversationId, id);
    if (!ours(row)) return row ?? claim.row;
    const patch = { status: transition('sending', 'fail'), updated_at: isoNow(clock) };
    await updateSuggestion(tx, orgId, id, patch);
    return { ...row, ...patch };
  });

  const text = input.text ?? claim.row.text;
  let result: SendResult;
  try {
    result = await deliver(text);
  } catch (err) {
    await release();
    throw err;
  }
  if (result.status === 'failed') return { result, suggestion: await release() };
  const suggestion = await inOrgTransaction(store, orgId, async (tx) => {
    const row = await findSuggestion(tx, orgId, conversationId, id);
    const conversation = await findConversation(tx, orgId, conversationId);
    if (!ours(row) || !conversation) return row ?? claim.row;
    return markSent(tx, conversation, row, 'sending', 'accept', { conversationId, messageId: result.messageId, text }, p, isoNow(clock));
  });
  return { result, suggestion };
}

/**
 * The hook after a plain reply the relay accepted: when a suggestion is pending in the
 * conversation, the human answered in its place. The newest pending suggestion becomes
 * `sent` (edited when the reply's text differs from the draft) with `suggestion_sent`
 * and a training pair. Older pending suggestions stay pending.
 *
 * @returns the suggestion it settled, or null when none was pending.
 */
export async function answerPendingSuggestion(store: Store, p: Principal, sent: SentReply, clock: Clock = systemClock): Promise<SuggestionRow | null> {
  return inOrgTransaction(store, p.orgId, async (tx) => {
    const row = await newestPendingSuggestion(tx, p.orgId, sent.conversationId, staleClaimsBefore(clock));
    const conversation = row && await findConversation(tx, p.orgId, sent.conversationId);
    if (!row || !conversation) return null;
    return markSent(tx, conversation, row, statusOf(row, clock), 'answer', sent, p, isoNow(clock));
  });
}
