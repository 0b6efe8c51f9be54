/**
 * Router connection commands (SPEC section 2, shared lines): activate a person's
 * connection to an identity on a line, release it. Each appends its event
 * (`connection_activated` / `connection_released`) to the connection's conversation in
 * the same transaction as the row change, so the conversation's `connection_status`
 * projection always agrees with the `connections` table.
 */
import type { Transaction } from 'kysely';
import { systemClock, type Clock } from '../clock.js';
import type { Actor } from '../domain/events.js';
import { canTransition, type ConnectionStatus, type ReleaseReason } from '../domain/router.js';
import { AppError, notFound } from '../errors.js';
import { newId } from '../ids.js';
import { findConnection, type ConnectionRow } from '../store/connections.js';
import { ensureContacts } from '../store/contacts.js';
import { createConversation, findConversation } from '../store/conversations.js';
import type { AccountRow } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import { appendEvents, type ConversationRow } from '../store/timeline.js';
import { findChannelConversation } from './ingest-channel.js';

/**
 * Connects `counterpart` on the shared line `account` to `identityId`, inside `tx`
 * (which holds the org lock): finds or creates that identity's conversation with the
 * person on this line, inserts an `active` connection and appends
 * `connection_activated` to the conversation. A person who had a released connection
 * gets a new one in the same conversation (its `connection_status` is `active` again).
 *
 * The caller has checked there is no active connection for the person on the line; the
 * partial unique index `connections_active` refuses a second one regardless.
 *
 * @param at RFC 3339 time of activation.
 * @returns the new connection and its conversation (after the event).
 */
export async function activateConnection(
  tx: Transaction<Database>, account: AccountRow, identityId: string, counterpart: { address: string; name: string | null }, at: string,
): Promise<{ connection: ConnectionRow; conversation: ConversationRow }> {
  const orgId = account.org_id;
  let conversation = await findChannelConversation(tx, account, identityId, counterpart.address);
  if (!conversation) {
    const contacts = await ensureContacts(tx, orgId, account.channel, [counterpart], at);
    conversation = await createConversation(tx, {
      orgId, identityId, accountId: account.id, channel: account.channel, subject: null, counterpart: counterpart.address,
      contactId: contacts.get(counterpart.address) ?? null, at,
    });
  }
  const connection: ConnectionRow = {
    id: newId('conn'), org_id: orgId, account_id: account.id, identity_id: identityId, counterpart: counterpart.address,
    conversation_id: conversation.id, status: 'active', activated_at: at, released_at: null, release_reason: null,
  };
  await tx.insertInto('connections').values(connection).execute();
  const appended = await appendEvents(tx, conversation, [{
    type: 'connection_activated', at,
    data: { connection_id: connection.id, account_id: account.id, counterpart: counterpart.address, reason: null, by: null },
  }]);
  return { connection, conversation: appended.conversation };
}

/**
 * Releases an active connection inside `tx`: the row becomes `released` (with
 * `released_at` and `release_reason`) and `connection_released` is appended to its
 * conversation, whose `connection_status` becomes `released`.
 *
 * @param by the actor for a release through the API; null when the person texted STOP.
 * @throws AppError `connection_released` (409) when it is released already.
 */
export async function releaseConnectionIn(
  tx: Transaction<Database>, connection: ConnectionRow, reason: ReleaseReason, by: Actor | null, at: string,
): Promise<ConnectionRow> {
  if (!canTransition(connection.status as ConnectionStatus, 'released')) {
    throw new AppError('connection_released', `Connection ${connection.id} was released already (${connection.release_reason ?? 'unknown reason'}, ${connection.released_at ?? ''}).`);
  }
  const released: ConnectionRow = { ...connection, status: 'released', released_at: at, release_reason: reason };
  await tx.updateTable('connections').set({ status: released.status, released_at: at, release_reason: reason })
    .where('org_id', '=', connection.org_id).where('id', '=', connection.id).execute();
  const conversation = await findConversation(tx, connection.org_id, connection.conversation_id);
  if (conversation) {
    await appendEvents(tx, conversation, [{
      type: 'connection_released', at,
      data: { connection_id: connection.id, account_id: connection.account_id, counterpart: connection.counterpart, reason, by },
    }]);
  }
  return released;
}

/**
 * Releases a connection through the API (`POST /v1/connections/{id}/release`), with
 * reason `api`, in its own transaction. The caller has checked the connection is
 * visible to whoever asks.
 *
 * @throws AppError `not_found` (404), `connection_released` (409).
 */
export async function releaseConnection(store: Store, orgId: string, id: string, by: Actor, clock: Clock = systemClock): Promise<ConnectionRow> {
  return inOrgTransaction(store, orgId, async (tx) => {
    const row = await findConnection(tx, orgId, id);
    if (!row) throw notFound('connection');
    return releaseConnectionIn(tx, row, 'api', by, new Date(clock.now()).toISOString());
  });
}
