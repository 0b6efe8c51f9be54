/**
 * Router connections on shared lines (SMS, iMessage; SPEC section 2): a person who texts
 * a pool line is connected to an identity by its routing code, and their later messages
 * on that line go to that identity until they text STOP or the connection is released.
 */
import { systemClock, type Clock } from '../clock.js';
import type { AccountRow } from '../store/identities.js';
import type { Store } from '../store/store.js';
import type { IngestResult } from './ingest-email.js';
import { receiveChannelMessage, type InboundMessage } from './ingest-channel.js';

/** Stores one message that arrived on a shared line, routed to the identity the person is connected to. */
export async function receiveSharedLineMessage(store: Store, account: AccountRow, msg: InboundMessage, clock: Clock = systemClock): Promise<IngestResult> {
  return receiveChannelMessage(store, account, msg, clock);
}
