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
 * 2. **Delivery** leases due rows (`FOR UPDATE SKIP LOCKED`, then `claimed_until`), POSTs
 *    each, and records the attempt. A 2xx ends it; anything else (status, timeout,
 *    refused connection) schedules the next attempt from {@link RETRY_SCHEDULE_MS}:
 *    8 attempts over 27 h 35 min. A node that dies mid-attempt leaves the lease to run
 *    out and the row to be tried again, so receivers deduplicate by `webhook-id`.
 *
 * An endpoint whose attempts have failed without a success for `disableAfterMs` is
 * disabled; its cursor stays, so enabling it again resumes where it stopped.
 */
import { Webhook } from 'standardwebhooks';
import type { Clock } from '../clock.js';
import { newId } from '../ids.js';
import type { Store } from '../store/store.js';
import { listOrgEventsAfter } from '../store/timeline.js';
import { endpointFromRow, type DeliveryRow } from '../store/webhooks.js';
import { assertWebhookTarget } from './webhook-target.js';
import { outboundFailure, outboundFetch } from '../net/outbound.js';

/** Wait before each retry, ms: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (the Standard Webhooks reference schedule). */
export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;
/** Attempts per delivery: the first and one per retry. */
export const MAX_ATTEMPTS = RETRY_SCHEDULE_MS.length + 1;

const DISPATCH_ENDPOINTS = 20;
const DISPATCH_EVENTS = 500;
const DELIVERY_BATCH = 50;
const CONCURRENCY = 10;
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

/** Leases up to `limit` due deliveries of enabled endpoints. */
async function claimDue(store: Store, nowMs: number, leaseMs: number): Promise<Claimed[]> {
  const now = new Date(nowMs).toISOString();
  return store.transaction(async (tx) => {
    let q = tx.selectFrom('webhook_deliveries')
      .innerJoin('webhook_endpoints', 'webhook_endpoints.id', 'webhook_deliveries.endpoint_id')
      .selectAll('webhook_deliveries')
      .select(['webhook_endpoints.url', 'webhook_endpoints.secret'])
      .where('webhook_deliveries.status', '=', 'pending')
      .where('webhook_deliveries.next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('webhook_deliveries.claimed_until', 'is', null), eb('webhook_deliveries.claimed_until', '<=', now)]))
      .where('webhook_endpoints.enabled', '=', 1)
      .orderBy('webhook_deliveries.next_attempt_at').limit(DELIVERY_BATCH);
    if (store.dialect === 'postgres') q = q.forUpdate('webhook_deliveries').skipLocked();
    const rows = await q.execute();
    if (rows.length > 0) {
      await tx.updateTable('webhook_deliveries').set({ claimed_until: new Date(nowMs + leaseMs).toISOString() })
        .where('id', 'in', rows.map((r) => r.id)).execute();
    }
    return rows;
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
  await store.transaction(async (tx) => {
    const attempts = d.attempt_count + 1;
    const retry = !out.ok && attempts < MAX_ATTEMPTS;
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
}

/**
 * Attempts every delivery due at `clock.now()`.
 *
 * @returns how many attempts were made.
 */
export async function deliverDue(store: Store, o: WebhookWorkerOptions): Promise<number> {
  let made = 0;
  for (;;) {
    const claimed = await claimDue(store, o.clock.now(), o.timeoutMs + 60_000);
    if (claimed.length === 0) return made;
    for (let i = 0; i < claimed.length; i += CONCURRENCY) {
      await Promise.all(claimed.slice(i, i + CONCURRENCY).map(async (d) => {
        await record(store, d, await attempt(d.url, d.secret, d, o), o);
        made++;
      }));
    }
    if (claimed.length < DELIVERY_BATCH) return made;
  }
}

/** Dispatch, then delivery: one pass of the webhook worker. */
export async function runWebhooks(store: Store, o: WebhookWorkerOptions): Promise<void> {
  await dispatchEvents(store, o.clock);
  await deliverDue(store, o);
}
