/**
 * What a channel reports besides new messages (SPEC section 3): delivery statuses of
 * messages we sent, the person's reactions (`reaction` events, inbound), the provider's
 * id for a message we sent (learned from its echo), and the person's typing (a live
 * signal, never stored). A provider may name a message by its own id or by ours (the
 * generic HTTP channel sends our `msg_…` id with every reply). Adapters' webhook routes
 * call these with what they translated; each commits before it resolves.
 */
import type { Transaction } from 'kysely';
import { isoNow, systemClock, type Clock } from '../clock.js';
import type { MessageStatus } from '../domain/events.js';
import { isId } from '../ids.js';
import { findConversation } from '../store/conversations.js';
import type { AccountRow } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import { appendEvents } from '../store/timeline.js';
import { applyProviderStatus, findByProviderId, recordProviderId } from './ingest-channel.js';

/** A message the provider named, resolved on one account. */
export interface MessageOnAccount {
  readonly message_id: string;
  readonly conversation_id: string;
}

/**
 * The message `ref` names on `account`: a provider id recorded for the account, or our
 * `msg_…` id of a message in one of the account's conversations; undefined otherwise.
 */
export async function findMessageRef(tx: Transaction<Database>, account: AccountRow, ref: string): Promise<MessageOnAccount | undefined> {
  const known = await findByProviderId(tx, account, ref);
  if (known || !isId('msg', ref)) return known;
  return tx.selectFrom('messages').innerJoin('conversations', 'conversations.id', 'messages.conversation_id')
    .select(['messages.id as message_id', 'messages.conversation_id'])
    .where('messages.org_id', '=', account.org_id).where('messages.id', '=', ref)
    .where('conversations.org_id', '=', account.org_id).where('conversations.account_id', '=', account.id)
    .executeTakeFirst();
}

/**
 * Applies a delivery status the provider reported for `ref` (its id or ours), forward
 * only (services/ingest-channel.ts `applyProviderStatus`).
 *
 * @returns the message, and whether the status moved it; undefined for an unknown message.
 */
export async function receiveStatus(
  store: Store, account: AccountRow, ref: string, status: MessageStatus, error: string | null, clock: Clock = systemClock,
): Promise<(MessageOnAccount & { applied: boolean }) | undefined> {
  const found = await inOrgTransaction(store, account.org_id, async (tx) => {
    const message = await findMessageRef(tx, account, ref);
    // Our own id becomes a provider id of the account, so the forward-only rule applies to it too.
    if (message && !(await findByProviderId(tx, account, ref))) await recordProviderId(tx, account, ref, message.message_id, message.conversation_id);
    return message;
  });
  if (!found) return undefined;
  const applied = await applyProviderStatus(store, account, ref, status, error, clock);
  return { ...found, applied };
}


/** A reaction the person gave (or took back) on a message of the conversation. */
export interface InboundReaction {
  /**
   * The dedup key: the provider's id of the reaction itself (a BlueBubbles tapback is a
   * message with its own guid), or of the post that carried it (a Standard Webhooks `webhook-id`).
   */
  readonly providerMessageId: string;
  /** The message reacted to: the provider's id, or our `msg_…` id. */
  readonly targetProviderId: string;
  readonly reaction: string;
  readonly removed: boolean;
  /** The person's canonical address; a reaction from anyone but the conversation's counterpart is ignored. */
  readonly from: string | null;
}

export type ReactionOutcome =
  | { readonly status: 'stored'; readonly conversationId: string; readonly messageId: string }
  | { readonly status: 'duplicate' | 'unknown_message' };

/**
 * Records an inbound `reaction` on the message the provider id names, once per reaction id
 * (the reaction's id is remembered against the message it targets).
 *
 * @returns `unknown_message` when no message of this account has the target id (or the
 *   reactor is not the conversation's counterpart): nothing is written.
 */
export async function receiveReaction(store: Store, account: AccountRow, input: InboundReaction, clock: Clock = systemClock): Promise<ReactionOutcome> {
  return inOrgTransaction(store, account.org_id, async (tx) => {
    if (await findByProviderId(tx, account, input.providerMessageId)) return { status: 'duplicate' };
    const target = await findMessageRef(tx, account, input.targetProviderId);
    if (!target) return { status: 'unknown_message' };
    const conversation = await findConversation(tx, account.org_id, target.conversation_id);
    if (!conversation || (input.from !== null && conversation.counterpart !== input.from)) return { status: 'unknown_message' };
    await appendEvents(tx, conversation, [{
      type: 'reaction', at: isoNow(clock),
      data: { message_id: target.message_id, reaction: input.reaction, removed: input.removed, direction: 'inbound', by: null },
    }]);
    await recordProviderId(tx, account, input.providerMessageId, target.message_id, conversation.id);
    return { status: 'stored', conversationId: conversation.id, messageId: target.message_id };
  });
}

/**
 * Learns the provider's id of a message we sent from its echo (BlueBubbles repeats our
 * `tempGuid`, which is the `msg_…` id): remembers it for status updates and reactions
 * when the message is an outbound one of this account that has none yet.
 *
 * @returns whether anything was recorded.
 */
export async function recordOutboundEcho(store: Store, account: AccountRow, messageId: string, providerMessageId: string): Promise<boolean> {
  if (!isId('msg', messageId)) return false;
  return inOrgTransaction(store, account.org_id, async (tx) => {
    if (await findByProviderId(tx, account, providerMessageId)) return false;
    const row = await tx.selectFrom('messages').innerJoin('conversations', 'conversations.id', 'messages.conversation_id')
      .select(['messages.id', 'messages.conversation_id', 'messages.provider_message_id'])
      .where('messages.org_id', '=', account.org_id).where('messages.id', '=', messageId)
      .where('messages.direction', '=', 'outbound').where('conversations.account_id', '=', account.id)
      .executeTakeFirst();
    if (!row || row.provider_message_id !== null) return false;
    await tx.updateTable('messages').set({ provider_message_id: providerMessageId }).where('id', '=', row.id).execute();
    await recordProviderId(tx, account, providerMessageId, row.id, row.conversation_id);
    return true;
  });
}

/** The typing signal live subscribers get (`event: typing`; the same shape as `POST …/typing` answers). */
export interface TypingSignal {
  readonly type: 'typing';
  readonly conversation_id: string;
  readonly state: 'started' | 'stopped';
  readonly direction: 'inbound' | 'outbound';
  readonly at: string;
}

/**
 * Tells live subscribers that the person is typing (or stopped) in their newest
 * conversation on this account. Nothing is stored.
 *
 * @returns the signal sent, or null when the person has no conversation on the account.
 */
export async function receiveTyping(
  store: Store, account: AccountRow, counterpart: string, state: 'started' | 'stopped', clock: Clock = systemClock,
): Promise<TypingSignal | null> {
  const row = await store.db.selectFrom('conversations').select(['id', 'merged_into'])
    .where('org_id', '=', account.org_id).where('account_id', '=', account.id).where('counterpart', '=', counterpart)
    .orderBy('last_event_at', 'desc').limit(1).executeTakeFirst();
  // A conversation merged into another types in the one it is part of now.
  const conversation = row?.merged_into ? await findConversation(store.db, account.org_id, row.merged_into) : row;
  if (!conversation) return null;
  const signal: TypingSignal = { type: 'typing', conversation_id: conversation.id, state, direction: 'inbound', at: isoNow(clock) };
  await store.broadcastSignal(account.org_id, JSON.stringify(signal));
  return signal;
}
