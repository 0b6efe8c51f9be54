/**
 * Webhook delivery (SPEC section 6): at least once, signed per Standard Webhooks
 * (https://www.standardwebhooks.com/, headers `webhook-id`, `webhook-timestamp`,
 * `webhook-signature`, via the `standardwebhooks` package), retried with backoff.
 *
 * Two steps, each safe on any number of nodes:
 *
 * 1. **Dispatch** follows the change feed per endpoint: it reads the organization's
 *    events after the endpoint's `cursor_seq`, creates one delivery row per matching
 *    event and advances the cursor, in one transaction. The feed is complete and
 *    ordered (store/sequences.ts), so no event is skipped; an endpoint row is taken
 *    `FOR UPDATE SKIP LOCKED`, so two nodes never dispatch the same endpoint at once,
 *    and the (endpoint, event) unique key makes a repeat harmless. Writes pay nothing
 *    for webhooks: the outbox is filled from the feed, after the commit.
 * 2. **Delivery** gives each endpoint its own lane: at most {@link ENDPOINT_CONCURRENCY}
 *    attempts in flight, taken in the order the deliveries fell due. A worker pass leases
 *    due rows for the lanes with room (`FOR UPDATE SKIP LOCKED`, then `claimed_until`),
 *    POSTs each at once, records it, and refills a lane as soon as one of its attempts
 *    ends; there is no batch that every attempt must finish first, so an endpoint that
 *    answers slowly, or not at all, holds only its own lane. A 2xx ends a delivery;
 *    anything else (status, timeout, refused connection) schedules the next attempt from
 *    {@link RETRY_SCHEDULE_MS}: 8 attempts over 27 h 35 min. A node that dies mid-attempt
 *    leaves the lease to run out and the row to be tried again, so receivers deduplicate
 *    by `webhook-id`.
 *
 * An endpoint whose attempts have failed without a success for `disableAfterMs` is
 * disabled; its cursor stays, so enabling it again resumes where it stopped.
 */
import { sql, type SqlBool } from 'kysely';
import { Webhook } from 'standardwebhooks';
import type { Clock } from '../clock.js';
import { newId } from '../ids.js';
import type { Store } from '../store/store.js';
import { listOrgEventsAfter } from '../store/timeline.js';
import { endpointFromRow, type DeliveryRow } from '../store/webhooks.js';
import { assertWebhookTarget } from './webhook-target.js';
import { outboundFailure, outboundFetch } from '../net/outbound.js';
import type { Metrics } from '../observability/metrics.js';

/** Wait before each retry, ms: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (the Standard Webhooks reference schedule). */
export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;
/** Attempts per delivery: the first and one per retry. */
export const MAX_ATTEMPTS = RETRY_SCHEDULE_MS.length + 1;

/**
 * Attempts in flight per endpoint at most: its lane. Counted from the live leases in the
 * store, so it holds for the endpoint whichever node attempts (two nodes claiming for one
 * endpoint at the same instant can each fill what they saw free, never more than this
 * each), and a lease left by a node that died holds its place until it runs out. A slow
 * receiver is sent this many requests at a time, and no more.
 */
export const ENDPOINT_CONCURRENCY = 4;
/** Attempts in flight at most per worker pass (a node runs one pass at a time), all endpoints together. */
const PASS_CONCURRENCY = 32;
/** How much longer than the attempt timeout a lease lasts, ms: time to record the outcome. */
const LEASE_MARGIN_MS = 60_000;
/**
 * While a pass waits on attempts in flight, it looks for deliveries newly due (retries,
 * leases of a dead node run out) and events not yet dispatched at least this often, ms.
 * A finished attempt or a commit wakes it at once.
 */
const RECHECK_MS = 1_000;
/**
 * A pass waits this many times as long as its last dispatch and claim took before the
 * next. A claim reads every due row (about 50 ms for 20,000 on either store, and
 * better-sqlite3 blocks the process meanwhile): however long the queue (a slow
 * endpoint's grows), claims take at most a quarter of a busy pass; with a short queue
 * the wait is a few ms.
 */
const CLAIM_PACING = 3;
const DISPATCH_ENDPOINTS = 20;
const DISPATCH_EVENTS = 500;
/** Kept of a failed attempt's error text, characters. */
const ERROR_CHARS = 500;

export interface WebhookWorkerOptions {
  readonly clock: Clock;
  /** Per-attempt timeout, ms. */
  readonly timeoutMs: number;
  /** Disable an endpoint failing without a success for this long, ms. */
  readonly disableAfterMs: number;
  /** The ports this server listens on (deliveries to them are refused). */
  readonly selfPorts: () => readonly number[];
  /** Whether deliveries may reach private, loopback and link-local addresses (net/outbound.ts). */
  readonly outboundAllowPrivate: boolean;
  /**
   * Once aborted, a pass starts no more attempts and returns when those in flight are
   * recorded (at most about `timeoutMs`). Abort it before stopping the worker at
   * shutdown: a pass otherwise lasts while any lane is busy, as long as a slow
   * endpoint's queue, and takes in the events committed meanwhile.
   */
  readonly signal?: AbortSignal;
  /** Counts attempts and ended deliveries (`switchboard_webhook_*`); nothing when unset. */
  readonly metrics?: Metrics;
}

/** The JSON body of a delivery: `{type, timestamp, data}` with the event as `data`. */
export function deliveryPayload(e: { type: string; at: string }): string {
  return JSON.stringify({ type: e.type, timestamp: e.at, data: e });
}

/**
 * Creates the deliveries of events committed since each endpoint's cursor.
 *
 * @returns how many deliveries were created.
 */
export async function dispatchEvents(store: Store, clock: Clock): Promise<number> {
  let created = 0;
  for (;;) {
    const { worked, made } = await store.transaction(async (tx) => {
      let q = tx.selectFrom('webhook_endpoints')
        .innerJoin('org_sequences', 'org_sequences.org_id', 'webhook_endpoints.org_id')
        .selectAll('webhook_endpoints')
        .where('webhook_endpoints.enabled', '=', 1)
        .whereRef('org_sequences.last_seq', '>', 'webhook_endpoints.cursor_seq')
        .orderBy('webhook_endpoints.id').limit(DISPATCH_ENDPOINTS);
      if (store.dialect === 'postgres') q = q.forUpdate('webhook_endpoints').skipLocked();
      const endpoints = (await q.execute()).map(endpointFromRow);
      let made = 0;
      const now = new Date(clock.now()).toISOString();
      for (const ep of endpoints) {
        const events = await listOrgEventsAfter(tx, { orgId: ep.org_id, afterSeq: ep.cursor_seq, limit: DISPATCH_EVENTS });
        if (events.length === 0) continue;
        const types = JSON.parse(ep.event_types) as string[];
        const rows = events.filter((e) => types.length === 0 || types.includes(e.type)).map((e) => ({
          id: newId('whd'), org_id: ep.org_id, endpoint_id: ep.id, event_id: e.id, event_seq: e.seq,
          event_type: e.type, payload: deliveryPayload(e), status: 'pending', attempt_count: 0,
          next_attempt_at: now, claimed_until: null, created_at: now, updated_at: now,
        }));
        if (rows.length > 0) {
          await tx.insertInto('webhook_deliveries').values(rows).onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing()).execute();
        }
        made += rows.length;
        await tx.updateTable('webhook_endpoints').set({ cursor_seq: events.at(-1)!.seq }).where('id', '=', ep.id).execute();
      }
      return { worked: endpoints.length, made };
    });
    created += made;
    if (worked < DISPATCH_ENDPOINTS) return created;
  }
}

/** A leased delivery with what its attempt needs of its endpoint. */
type Claimed = DeliveryRow & { readonly url: string; readonly secret: string };

/**
 * Leases due deliveries of enabled endpoints for the lanes with room, at most `limit`:
 * per endpoint the earliest due first (then in event order), and every endpoint's next
 * before any endpoint's one after, so a long queue takes no turn from a short one.
 *
 * A leased row stays due (`next_attempt_at` in the past) until its attempt is recorded,
 * so one read of the due rows gives each endpoint's leases (its attempts in flight, on
 * any node) and its waiting rows. The rows picked are then locked `FOR UPDATE SKIP
 * LOCKED` (PostgreSQL; SQLite has one writer) with the due test again: a row another
 * node took meanwhile is dropped, never leased twice.
 */
async function claimDue(store: Store, nowMs: number, leaseMs: number, limit: number): Promise<Claimed[]> {
  const now = new Date(nowMs).toISOString();
  return store.transaction(async (tx) => {
    const leased = sql<number>`case when webhook_deliveries.claimed_until > ${now} then 1 else 0 end`;
    const due = tx.selectFrom('webhook_deliveries')
      .innerJoin('webhook_endpoints', 'webhook_endpoints.id', 'webhook_deliveries.endpoint_id')
      .where('webhook_deliveries.status', '=', 'pending')
      .where('webhook_deliveries.next_attempt_at', '<=', now)
      .where('webhook_endpoints.enabled', '=', 1)
      .select([
        'webhook_deliveries.id', 'webhook_deliveries.next_attempt_at', 'webhook_deliveries.event_seq',
        leased.as('leased'),
        sql<number>`sum(${leased}) over (partition by webhook_deliveries.endpoint_id)`.as('in_flight'),
        // The place of a waiting row in its endpoint's queue, 1 first.
        sql<number>`row_number() over (partition by webhook_deliveries.endpoint_id, ${leased}
          order by webhook_deliveries.next_attempt_at, webhook_deliveries.event_seq)`.as('turn'),
      ]);
    const picked = await tx.selectFrom(due.as('due')).select('id')
      .where('leased', '=', 0)
      .where(sql<SqlBool>`turn + in_flight <= ${sql.lit(ENDPOINT_CONCURRENCY)}`)
      .orderBy('turn').orderBy('next_attempt_at').orderBy('event_seq')
      .limit(limit).execute();
    if (picked.length === 0) return [];
    let q = tx.selectFrom('webhook_deliveries')
      .innerJoin('webhook_endpoints', 'webhook_endpoints.id', 'webhook_deliveries.endpoint_id')
      .selectAll('webhook_deliveries')
      .select(['webhook_endpoints.url', 'webhook_endpoints.secret'])
      .where('webhook_deliveries.id', 'in', picked.map((r) => r.id))
      .where('webhook_deliveries.status', '=', 'pending')
      .where('webhook_deliveries.next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('webhook_deliveries.claimed_until', 'is', null), eb('webhook_deliveries.claimed_until', '<=', now)]))
      .where('webhook_endpoints.enabled', '=', 1);
    if (store.dialect === 'postgres') q = q.forUpdate('webhook_deliveries').skipLocked();
    const rows = await q.execute();
    if (rows.length === 0) return [];
    await tx.updateTable('webhook_deliveries').set({ claimed_until: new Date(nowMs + leaseMs).toISOString() })
      .where('id', 'in', rows.map((r) => r.id)).execute();
    const place = new Map(picked.map((r, i) => [r.id, i]));
    return rows.sort((a, b) => place.get(a.id)! - place.get(b.id)!);
  });
}

interface AttemptOutcome {
  readonly ok: boolean;
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
}

/** One POST of a delivery to its endpoint. */
async function attempt(url: string, secret: string, d: DeliveryRow, o: WebhookWorkerOptions): Promise<AttemptOutcome> {
  const started = performance.now();
  const done = (statusCode: number | null, error: string | null): AttemptOutcome => ({
    ok: statusCode !== null && statusCode >= 200 && statusCode < 300,
    statusCode, latencyMs: Math.round(performance.now() - started), error: error?.slice(0, ERROR_CHARS) ?? null,
  });
  try {
    // Private addresses are refused by the connection itself (outboundFetch), after its own lookup.
    await assertWebhookTarget(url, { selfPorts: o.selfPorts(), refusePrivate: false });
    // The signature's timestamp is wall-clock time: receivers check it against theirs.
    const signedAt = new Date();
    const res = await outboundFetch(o, url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(o.timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Switchboard-Webhooks/1',
        'webhook-id': d.id,
        'webhook-timestamp': String(Math.floor(signedAt.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(d.id, signedAt, d.payload),
      },
      body: d.payload,
    });
    await res.body?.cancel();
    return done(res.status, res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`);
  } catch (err) {
    return done(null, outboundFailure(err, o.timeoutMs));
  }
}

/** Records an attempt and schedules what follows, in one transaction. */
async function record(store: Store, d: DeliveryRow, out: AttemptOutcome, o: WebhookWorkerOptions): Promise<void> {
  const nowMs = o.clock.now();
  const now = new Date(nowMs).toISOString();
  const attempts = d.attempt_count + 1;
  const retry = !out.ok && attempts < MAX_ATTEMPTS;
  await store.transaction(async (tx) => {
    await tx.insertInto('webhook_attempts').values({
      id: newId('wha'), delivery_id: d.id, at: now, status_code: out.statusCode, latency_ms: out.latencyMs, error: out.error,
    }).execute();
    await tx.updateTable('webhook_deliveries').set({
      status: out.ok ? 'succeeded' : retry ? 'pending' : 'failed',
      attempt_count: attempts,
      next_attempt_at: retry ? new Date(nowMs + RETRY_SCHEDULE_MS[attempts - 1]!).toISOString() : null,
      claimed_until: null,
      updated_at: now,
    }).where('id', '=', d.id).execute();
    const ep = await tx.selectFrom('webhook_endpoints').select(['failing_since', 'enabled']).where('id', '=', d.endpoint_id).executeTakeFirst();
    if (!ep) return;
    if (out.ok) {
      if (ep.failing_since !== null) await tx.updateTable('webhook_endpoints').set({ failing_since: null }).where('id', '=', d.endpoint_id).execute();
      return;
    }
    const since = ep.failing_since ?? now;
    const disable = ep.enabled === 1 && nowMs - Date.parse(since) >= o.disableAfterMs;
    await tx.updateTable('webhook_endpoints').set({
      failing_since: since,
      ...(disable ? { enabled: 0, disabled_reason: `every attempt failed since ${since}`, updated_at: now } : {}),
    }).where('id', '=', d.endpoint_id).execute();
  });
  if (o.metrics) {
    const outcome = out.ok ? 'success' : 'failure';
    o.metrics.webhookAttempts.inc({ outcome });
    o.metrics.webhookAttemptDuration.observe({ outcome }, out.latencyMs / 1000);
    if (!retry) o.metrics.webhookDeliveries.inc({ outcome: out.ok ? 'succeeded' : 'failed' });
  }
}

/**
 * One pass of delivery: attempts the due deliveries, each endpoint in its lane, and
 * resolves once no attempt it started is in flight and none is due that a lane has room
 * for. A lane is refilled the moment one of its attempts is recorded, so a slow endpoint
 * delays only its own deliveries. With `follow`, events committed during the pass (any
 * node's, through `store.commits`) are dispatched and attempted in it too, so a pass
 * held open by a slow endpoint never holds back the others' new events. Once
 * `o.signal` is aborted it starts nothing more and resolves when its attempts are
 * recorded.
 *
 * An error (of the store) stops the pass from starting attempts; those in flight are
 * awaited and recorded, then the first error is thrown. Rows leased but never recorded
 * come due again when their lease runs out.
 *
 * @returns how many attempts were made and recorded.
 */
async function deliverPass(store: Store, o: WebhookWorkerOptions, follow: boolean): Promise<number> {
  const inFlight = new Set<Promise<void>>();
  const errors: unknown[] = [];
  let made = 0;
  /** A claim may find work: set by a finished attempt, a commit and the recheck. */
  let claimable = true;
  /** The change feed may hold events not dispatched yet. */
  let undispatched = follow;
  /** performance.now() before which no claim starts ({@link CLAIM_PACING}). */
  let resumeAt = 0;
  let wake: (() => void) | undefined;
  const poke = (newEvents: boolean): void => {
    claimable = true;
    if (newEvents && follow) undispatched = true;
    wake?.();
  };
  const stopFollowing = follow ? store.commits.onAnyCommit(() => poke(true)) : () => {};
  const onAbort = (): void => wake?.();
  o.signal?.addEventListener('abort', onAbort);
  try {
    while (errors.length === 0 && !o.signal?.aborted) {
      if (claimable) {
        const pause = resumeAt - performance.now();
        if (pause > 0) {
          await new Promise((resolve) => setTimeout(resolve, pause));
          continue;
        }
        const started = performance.now();
        claimable = false;
        if (undispatched) {
          undispatched = false;
          await dispatchEvents(store, o.clock);
        }
        const room = PASS_CONCURRENCY - inFlight.size;
        const claimed = room > 0 ? await claimDue(store, o.clock.now(), o.timeoutMs + LEASE_MARGIN_MS, room) : [];
        for (const d of claimed) {
          const run: Promise<void> = attempt(d.url, d.secret, d, o)
            .then((out) => record(store, d, out, o))
            .then(() => { made++; }, (err: unknown) => { errors.push(err); })
            .finally(() => { inFlight.delete(run); poke(false); });
          inFlight.add(run);
        }
        resumeAt = performance.now() + CLAIM_PACING * (performance.now() - started);
        continue;
      }
      if (inFlight.size === 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => poke(true), RECHECK_MS);
        wake = () => { clearTimeout(timer); wake = undefined; resolve(); };
      });
    }
  } catch (err) {
    errors.push(err);
  } finally {
    stopFollowing();
    o.signal?.removeEventListener('abort', onAbort);
    while (inFlight.size > 0) await Promise.all(inFlight);
  }
  if (errors.length > 0) throw errors[0];
  return made;
}

/**
 * Attempts the deliveries due at `clock.now()`, each endpoint in its lane of
 * {@link ENDPOINT_CONCURRENCY}, and those that fall due while attempts are in flight.
 * Resolves once every attempt it started is recorded.
 *
 * @returns how many attempts were made.
 */
export async function deliverDue(store: Store, o: WebhookWorkerOptions): Promise<number> {
  return deliverPass(store, o, false);
}

/**
 * One pass of the webhook worker: dispatch, then delivery, following the change feed
 * while attempts are in flight (events committed meanwhile go out in the same pass).
 * Resolves once every attempt it started is recorded; a slow endpoint keeps the pass
 * open, never the other endpoints waiting.
 */
export async function runWebhooks(store: Store, o: WebhookWorkerOptions): Promise<void> {
  await deliverPass(store, o, true);
}
