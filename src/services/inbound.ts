/**
 * The one entry for inbound messages of every non-email channel: adapters' webhook
 * routes call {@link receiveInbound} with what they translated, and acknowledge the
 * provider once it resolves (the message is committed by then). A shared line's
 * messages go through the router (services/router.ts); others straight to the account's
 * identity.
 */
import { systemClock, type Clock } from '../clock.js';
import type { AccountRow } from '../store/identities.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import type { IngestResult } from './ingest-email.js';
import { receiveChannelMessage, type InboundMessage } from './ingest-channel.js';
import { receiveSharedLineMessage } from './router.js';

/**
 * Stores one inbound message for `account`; @returns what was stored (or that it was a duplicate).
 * With `metrics`, counts the outcome per channel (`switchboard_ingest_messages_total`: `stored`,
 * `duplicate`, or `error` when it throws).
 */
export async function receiveInbound(
  store: Store, account: AccountRow, msg: InboundMessage, clock: Clock = systemClock, metrics?: Metrics,
): Promise<IngestResult> {
  try {
    const result = await (account.pool === 1 ? receiveSharedLineMessage(store, account, msg, clock) : receiveChannelMessage(store, account, msg, clock));
    metrics?.ingestMessages.inc({ channel: account.channel, outcome: result.status });
    return result;
  } catch (err) {
    metrics?.ingestMessages.inc({ channel: account.channel, outcome: 'error' });
    throw err;
  }
}
