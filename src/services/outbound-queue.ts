/**
 * The outbound email queue: a reply is committed `queued` with a row here, answered at
 * once, and this worker hands it to the mailbox's SMTP relay.
 *
 * Like timers and webhook deliveries, in two steps: **claim** (a short transaction leases
 * due rows, `FOR UPDATE SKIP LOCKED` on PostgreSQL, the one writer lock on SQLite, so
 * nodes sweeping together take different rows) and **deliver** (outside any transaction),
 * then **record** the outcome under the organization's write lock, as a `message_status`
 * event:
 *
 * - the relay's 250: `sent`, and the row goes;
 * - a temporary failure (connection refused or reset, a timeout, a 4xx reply): `deferred`
 *   with the reply, retried after {@link RETRY_SCHEDULE_MS} until `expires_at`
 *   (`OUTBOUND_LIFETIME_MS`, 2 days by default), then `failed`;
 * - a permanent failure (a 5xx reply): `failed` at once with the reply text.
 *
 * A node that dies between the relay's 250 and its commit leaves the row leased; the
 * lease runs out and another attempt sends the same message (same Message-ID) once more.
 * That is the one duplicate possible, as with every MTA queue.
 */
import type { Clock } from '../clock.js';
import { isoNow } from '../clock.js';
import type { MessageStatus } from '../domain/events.js';
import { deliverEmail } from '../email/transport.js';
import { AppError, notFound } from '../errors.js';
import { isId } from '../ids.js';
import { findConversation } from '../store/conversations.js';
import { findAccount } from '../store/identities.js';
import type { OutboundQueueTable } from '../store/schema.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Db, Store } from '../store/store.js';
import { appendEvents } from '../store/timeline.js';
import type { Selectable, Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import { mailboxConfig } from './identities.js';
import type { Metrics } from '../observability/metrics.js';

type QueueRow = Selectable<OutboundQueueTable>;

/** Waits before each retry after a temporary failure, ms: 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, then every 4 h. */
export const RETRY_SCHEDULE_MS = [30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000] as const;

/** Rows claimed per pass; deliveries run this many at a time. */
const CLAIM_BATCH = 50;
const CONCURRENCY = 5;
/** Longest relay conversation (email/transport.ts timeouts) plus margin. */
const LEASE_MS = 120_000;

export interface OutboundWorkerOptions {
  readonly clock: Clock;
  /** How long a message may stay deferred before it fails, ms (`OUTBOUND_LIFETIME_MS`). */
  readonly lifetimeMs: number;
  /** Counts each attempt's outcome (`switchboard_outbound_email_attempts_total`); nothing when unset. */
  readonly metrics?: Metrics;
}

/** Puts a composed message in the queue, in the caller's (sending) transaction. */
export async function enqueue(
  tx: Transaction<Database>, row: { messageId: string; orgId: string; accountId: string; envelope: { from: string; to: readonly string[] } },
  now: string, lifetimeMs: number,
): Promise<void> {
  await tx.insertInto('outbound_queue').values({
    message_id: row.messageId, org_id: row.orgId, account_id: row.accountId, envelope: JSON.stringify(row.envelope),
    state: 'queued', attempts: 0, next_attempt_at: now, claimed_until: null,
    expires_at: new Date(Date.parse(now) + lifetimeMs).toISOString(), last_error: null, created_at: now, updated_at: now,
  }).execute();
}

/** How an attempt ended. */
export type AttemptOutcome =
  | { readonly kind: 'sent' | 'captured'; readonly reply: string | null }
  | { readonly kind: 'temporary' | 'permanent'; readonly reply: string };

/**
 * Classifies a relay error (nodemailer's `responseCode`, `response`, `code`): a 5xx reply
 * is permanent (RFC 5321 section 4.2.1), a 4xx reply or a connection failure temporary.
 */
export function classifyRelayError(err: unknown): AttemptOutcome {
  const e = err as { responseCode?: number; response?: string; code?: string; message?: string };
  const reply = (e.response ?? e.message ?? 'delivery failed').trim().slice(0, 1_000);
  if (typeof e.responseCode === 'number') return { kind: e.responseCode >= 500 ? 'permanent' : 'temporary', reply };
  // An envelope nodemailer itself refuses (no recipient) cannot get better by waiting.
  return { kind: e.code === 'EENVELOPE' ? 'permanent' : 'temporary', reply };
}

/** Leases up to {@link CLAIM_BATCH} due rows. */
async function claimDue(store: Store, nowMs: number): Promise<QueueRow[]> {
  const now = new Date(nowMs).toISOString();
  return store.transaction(async (tx) => {
    let q = tx.selectFrom('outbound_queue').selectAll()
      .where('state', '!=', 'failed').where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', now)]))
      .orderBy('next_attempt_at').limit(CLAIM_BATCH);
    if (store.dialect === 'postgres') q = q.forUpdate().skipLocked();
    const rows = await q.execute();
    if (rows.length > 0) {
      await tx.updateTable('outbound_queue').set({ claimed_until: new Date(nowMs + LEASE_MS).toISOString() })
        .where('message_id', 'in', rows.map((r) => r.message_id)).execute();
    }
    return rows;
  });
}

/** One attempt: the stored bytes through the mailbox's relay (capture when it has none now). */
async function attempt(store: Store, row: QueueRow): Promise<AttemptOutcome> {
  const account = await findAccount(store.db, row.org_id, row.account_id);
  if (!account) return { kind: 'permanent', reply: 'the sending mailbox was deleted' };
  const raw = await store.db.selectFrom('raw_messages').select('raw').where('message_id', '=', row.message_id).executeTakeFirst();
  if (!raw) return { kind: 'permanent', reply: 'the message bytes are gone' };
  try {
    const out = await deliverEmail(mailboxConfig(account).smtp, JSON.parse(row.envelope), Buffer.from(raw.raw));
    return { kind: out.transport === 'capture' ? 'captured' : 'sent', reply: out.response };
  } catch (err) {
    return classifyRelayError(err);
  }
}

/** Records an attempt's outcome: the queue row and a `message_status` event, in one transaction. */
async function record(store: Store, row: QueueRow, out: AttemptOutcome, o: OutboundWorkerOptions): Promise<void> {
  const nowMs = o.clock.now();
  const now = new Date(nowMs).toISOString();
  const attempts = row.attempts + 1;
  const delay = RETRY_SCHEDULE_MS[Math.min(attempts - 1, RETRY_SCHEDULE_MS.length - 1)]!;
  const expired = out.kind === 'temporary' && nowMs + delay > Date.parse(row.expires_at);
  const status: MessageStatus = out.kind === 'sent' || out.kind === 'captured' ? out.kind
    : out.kind === 'permanent' || expired ? 'failed' : 'deferred';
  const error = status === 'failed' && expired ? `gave up after ${attempts} attempts: ${out.reply}`
    : out.kind === 'temporary' || out.kind === 'permanent' ? out.reply : null;
  await inOrgTransaction(store, row.org_id, async (tx) => {
    const message = await tx.selectFrom('messages').select(['conversation_id', 'status']).where('id', '=', row.message_id).executeTakeFirst();
    if (status === 'sent' || status === 'captured') {
      await tx.deleteFrom('outbound_queue').where('message_id', '=', row.message_id).execute();
    } else {
      await tx.updateTable('outbound_queue').set({
        state: status === 'failed' ? 'failed' : 'deferred', attempts, last_error: error, claimed_until: null, updated_at: now,
        next_attempt_at: status === 'failed' ? null : new Date(nowMs + delay).toISOString(),
      }).where('message_id', '=', row.message_id).execute();
    }
    const conversation = message && await findConversation(tx, row.org_id, message.conversation_id);
    if (!message || !conversation) return;
    await appendEvents(tx, conversation, [{ type: 'message_status', at: now, data: { message_id: row.message_id, status, error } }]);
    await tx.updateTable('messages').set({ status, error, updated_at: now }).where('id', '=', row.message_id).execute();
  });
  o.metrics?.outboundAttempts.inc({ outcome: status });
}

/**
 * Email waiting in the queue of every organization, by state (the depth gauge). Reads only
 * the rows that still wait, through the partial index `outbound_queue_due` (state not
 * `failed`), so it costs as much as the queue is deep, however many failed rows are kept.
 */
export async function queueDepth(db: Db): Promise<Record<'queued' | 'deferred', number>> {
  const rows = await db.selectFrom('outbound_queue').select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('state', '!=', 'failed').groupBy('state').execute();
  const depth = { queued: 0, deferred: 0 };
  for (const r of rows) if (r.state === 'queued' || r.state === 'deferred') depth[r.state] = Number(r.n);
  return depth;
}

/**
 * Delivers every queued message due at `clock.now()`.
 *
 * @returns how many attempts were made.
 */
export async function deliverQueued(store: Store, o: OutboundWorkerOptions): Promise<number> {
  let made = 0;
  for (;;) {
    const claimed = await claimDue(store, o.clock.now());
    for (let i = 0; i < claimed.length; i += CONCURRENCY) {
      await Promise.all(claimed.slice(i, i + CONCURRENCY).map(async (row) => {
        await record(store, row, await attempt(store, row), o);
        made++;
      }));
    }
    if (claimed.length < CLAIM_BATCH) return made;
  }
}

/** A queued message as `GET /v1/outbound` lists it. */
export type QueueEntry = QueueRow & { readonly conversation_id: string; readonly identity_id: string };

/**
 * The organization's queue, oldest message first (keyset on the message id), optionally
 * of one state and one identity.
 */
export async function listQueue(
  store: Store, orgId: string, q: { state?: string; identityId?: string; afterId?: string; limit: number },
): Promise<QueueEntry[]> {
  let query = store.db.selectFrom('outbound_queue')
    .innerJoin('messages', 'messages.id', 'outbound_queue.message_id')
    .innerJoin('conversations', 'conversations.id', 'messages.conversation_id')
    .selectAll('outbound_queue').select(['messages.conversation_id', 'conversations.identity_id'])
    .where('outbound_queue.org_id', '=', orgId);
  if (q.state) query = query.where('outbound_queue.state', '=', q.state);
  if (q.identityId) query = query.where('conversations.identity_id', '=', q.identityId);
  if (q.afterId) query = query.where('outbound_queue.message_id', '>', q.afterId);
  return query.orderBy('outbound_queue.message_id').limit(q.limit + 1).execute();
}

/**
 * Makes a deferred message due now, or puts a failed one back in the queue (a new
 * lifetime, a `message_status` `queued` event).
 *
 * @param identityId the identity a scoped key is limited to (null: any).
 * @throws AppError `not_found` for an unknown message (or one of another identity); `message_not_retryable` for one
 *   that is not waiting in or failed out of the email queue (sent, captured, a channel message).
 */
export async function retryNow(store: Store, orgId: string, messageId: string, o: OutboundWorkerOptions, identityId: string | null = null): Promise<void> {
  await inOrgTransaction(store, orgId, async (tx) => {
    const message = isId('msg', messageId)
      ? await tx.selectFrom('messages').innerJoin('conversations', 'conversations.id', 'messages.conversation_id')
        .select(['messages.conversation_id', 'messages.status', 'conversations.identity_id'])
        .where('messages.org_id', '=', orgId).where('messages.id', '=', messageId).executeTakeFirst()
      : undefined;
    // A key scoped to another identity cannot tell this message from a missing one.
    if (!message || (identityId !== null && message.identity_id !== identityId)) throw notFound('message');
    const row = await tx.selectFrom('outbound_queue').selectAll().where('message_id', '=', messageId).executeTakeFirst();
    if (!row) {
      throw new AppError('message_not_retryable', `Message ${messageId} is ${message.status}, not waiting in the outbound queue.`);
    }
    const now = isoNow(o.clock);
    if (row.state !== 'failed') {
      await tx.updateTable('outbound_queue').set({ next_attempt_at: now, updated_at: now }).where('message_id', '=', messageId).execute();
      return;
    }
    await tx.updateTable('outbound_queue').set({
      state: 'queued', next_attempt_at: now, claimed_until: null, updated_at: now,
      expires_at: new Date(Date.parse(now) + o.lifetimeMs).toISOString(),
    }).where('message_id', '=', messageId).execute();
    const conversation = await findConversation(tx, orgId, message.conversation_id);
    if (conversation) await appendEvents(tx, conversation, [{ type: 'message_status', at: now, data: { message_id: messageId, status: 'queued', error: null } }]);
    await tx.updateTable('messages').set({ status: 'queued', error: null, updated_at: now }).where('id', '=', messageId).execute();
  });
}
