/**
 * Provider updates about messages already on a timeline, for channels whose providers
 * may name a message by their own id or by ours (the generic HTTP channel sends our
 * `msg_…` id with every reply, and a provider may answer a send without an id of its
 * own): delivery statuses and reactions from the counterpart.
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

/**
 * Appends an inbound `reaction` event (the counterpart reacted to the message `ref`
 * names, or took the reaction back).
 *
 * @returns the message reacted to, or undefined when `ref` names none on the account.
 */
export async function receiveReaction(
  store: Store, account: AccountRow, ref: string, reaction: string, removed: boolean, clock: Clock = systemClock,
): Promise<MessageOnAccount | undefined> {
  return inOrgTransaction(store, account.org_id, async (tx) => {
    const message = await findMessageRef(tx, account, ref);
    if (!message) return undefined;
    const conversation = await findConversation(tx, account.org_id, message.conversation_id);
    if (!conversation) return undefined;
    await appendEvents(tx, conversation, [{
      type: 'reaction', at: isoNow(clock),
      data: { message_id: message.message_id, reaction, removed, direction: 'inbound', by: null },
    }]);
    return message;
  });
}
