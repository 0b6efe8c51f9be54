/**
 * Router connections on shared lines (SMS, iMessage; SPEC section 2): a person who texts
 * a pool line is connected to an identity by its routing code, and their later messages
 * on that line go to that identity until they text STOP or the connection is released.
 *
 * The rules, in order, for one inbound message from a person on a line:
 *
 * 1. Already stored (same provider id on this account): a duplicate, nothing changes
 *    (a provider's webhook retry of a code message never makes a second connection).
 * 2. The person has an active connection on the line:
 *    - the whole text is an opt-out keyword (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END,
 *      QUIT; trimmed, any case): the message is stored in the connection's
 *      conversation, then the connection is released (reason `stop`);
 *    - anything else (another identity's code included) is stored in the connected
 *      identity's conversation. To switch identities a person texts STOP, then the code.
 * 3. No active connection and the first word is the routing code of an identity of the
 *    line's organization: a connection is activated (in that identity's conversation
 *    with the person on this line, created if need be) and the message stored there.
 * 4. Otherwise the message is unrouted: it is stored in the conversation of the line's
 *    own identity (the account's `identity_id`) with the person, with no connection.
 */
import type { Transaction } from 'kysely';
import { systemClock, type Clock } from '../clock.js';
import { candidateCode, isStopWord } from '../domain/router.js';
import { findActiveConnection } from '../store/connections.js';
import type { AccountRow } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import { activateConnection, releaseConnectionIn } from './connections.js';
import type { IngestResult } from './ingest-email.js';
import { findByProviderId, ingestChannelMessage, type InboundMessage } from './ingest-channel.js';

/**
 * Where the router put a message: `connected` (an active connection's conversation),
 * `activated` (a routing code opened a connection), `stopped` (an opt-out keyword
 * released the connection), `unrouted` (the line's own identity), or null for a duplicate.
 */
export type SharedLineRoute = 'connected' | 'activated' | 'stopped' | 'unrouted';

export type SharedLineResult = IngestResult & {
  readonly route: SharedLineRoute | null;
  /** The connection the message went through (activated, used or released), or null. */
  readonly connectionId: string | null;
};

/**
 * Stores one message that arrived on the shared line `account` (a `pool` account),
 * routed by the rules in this module's header, in ONE transaction holding the org lock:
 * the connection change, its event and the message commit together, so a provider may be
 * acknowledged once this resolves.
 *
 * @param msg what the adapter translated; `msg.from` already normalized (E.164 for SMS).
 * @returns the stored message (or the duplicate), with the route taken.
 */
export async function receiveSharedLineMessage(store: Store, account: AccountRow, msg: InboundMessage, clock: Clock = systemClock): Promise<SharedLineResult> {
  return inOrgTransaction(store, account.org_id, (tx) => routeSharedLineMessage(tx, account, msg, clock));
}

async function routeSharedLineMessage(tx: Transaction<Database>, account: AccountRow, msg: InboundMessage, clock: Clock): Promise<SharedLineResult> {
  const known = await findByProviderId(tx, account, msg.providerMessageId);
  if (known) return { status: 'duplicate', conversationId: known.conversation_id, route: null, connectionId: null };
  const active = await findActiveConnection(tx, account.org_id, account.id, msg.from);
  if (active) {
    const stored = await ingestChannelMessage(tx, account, active.identity_id, msg, clock);
    if (!isStopWord(msg.text)) return { ...withoutConversation(stored), route: 'connected', connectionId: active.id };
    // The timeline is ordered by time: the release comes after the STOP it answers.
    const now = new Date(clock.now()).toISOString();
    const after = stored.conversation && stored.conversation.last_event_at > now ? stored.conversation.last_event_at : now;
    await releaseConnectionIn(tx, active, 'stop', null, after);
    return { ...withoutConversation(stored), route: 'stopped', connectionId: active.id };
  }

  const code = candidateCode(msg.text);
  const target = code === null ? undefined : await tx.selectFrom('identities').select('id')
    .where('org_id', '=', account.org_id).where('routing_code', '=', code).executeTakeFirst();
  if (target) {
    // Dated before the message is (ingest reads the clock after this), so it comes first on the timeline.
    const at = new Date(clock.now()).toISOString();
    const { connection } = await activateConnection(tx, account, target.id, { address: msg.from, name: msg.fromName ?? null }, at);
    const stored = await ingestChannelMessage(tx, account, target.id, msg, clock);
    return { ...withoutConversation(stored), route: 'activated', connectionId: connection.id };
  }

  const stored = await ingestChannelMessage(tx, account, account.identity_id, msg, clock);
  return { ...withoutConversation(stored), route: 'unrouted', connectionId: null };
}

/** The ingest result without the conversation row it carries for in-transaction callers. */
function withoutConversation(r: Awaited<ReturnType<typeof ingestChannelMessage>>): IngestResult {
  const { conversation: _row, ...rest } = r;
  return rest;
}
