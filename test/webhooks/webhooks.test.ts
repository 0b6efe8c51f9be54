/**
 * Webhooks over real HTTP on loopback: a receiver verifies every delivery's signature
 * with the `standardwebhooks` package; with the receiver down and then up, every event
 * arrives and each `webhook-id` once after dedup; the delivery log, replay, the retry
 * schedule (over 24 h), automatic disabling, the self-target guard, and isolation;
 * per-endpoint lanes (a slow endpoint beside a fast one and another organization's,
 * timed in real milliseconds) and stopping a pass. Time moves on a manual clock; the
 * worker is run by hand.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ENDPOINT_CONCURRENCY, MAX_ATTEMPTS, runWebhooks, type WebhookWorkerOptions } from '../../src/services/webhook-delivery.js';
import { freePort, harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

const HOUR = 3_600_000;

interface Received { id: string; body: any; verified: boolean; /** When the request arrived, performance.now() ms. */ at: number }

/**
 * An HTTP receiver on loopback that checks signatures and answers `status()`, `delayMs`
 * after each request arrives; `maxOpen()` is the most requests it held at once.
 */
async function receiver(port: number, secret: () => string, status: () => number = () => 200, delayMs = 0) {
  const got: Received[] = [];
  let open = 0;
  let maxOpen = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const payload = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      let body: any = null;
      try {
        body = new Webhook(secret()).verify(payload, req.headers as Record<string, string>);
        verified = true;
      } catch { /* recorded as unverified */ }
      got.push({ id: String(req.headers['webhook-id']), body, verified, at: performance.now() });
      maxOpen = Math.max(maxOpen, ++open);
      setTimeout(() => { open--; res.writeHead(status()).end(); }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    got, maxOpen: () => maxOpen,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

let h: Harness;
let clock: ManualClock;
let worker: WebhookWorkerOptions;
let conv: string;
beforeEach(async () => {
  clock = new ManualClock(Date.parse('2026-06-01T08:00:00.000Z'));
  h = await harness({ port: 8123, smtpPort: 2625 }, { clock });
  worker = { clock, timeoutMs: 2_000, disableAfterMs: 5 * 24 * HOUR, selfPorts: () => [8123, 2625], outboundAllowPrivate: true };
  await identityWithMailbox(h, 'hooks@shop.test', 'hooks');
  const res = await inbound(h, rawEmail({ from: 'x@x.test', to: 'hooks@shop.test', messageId: 'hook-seed@x.test' }));
  conv = res.body.results[0].conversation_id;
});
afterEach(async () => { await h.close(); });

const label = (l: string) => h.request('POST', `/v1/conversations/${conv}/labels`, { labels: [l] });
const run = () => runWebhooks(h.store, worker);

describe('webhook endpoints', () => {
  it('shows the secret once, refuses URLs that reach this server, and hides other organizations\' endpoints', async () => {
    const created = await h.request('POST', '/v1/webhook_endpoints', { url: 'http://127.0.0.1:9/hook', event_types: ['label_added'] });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const read = await h.request('GET', `/v1/webhook_endpoints/${created.body.id}`);
    expect(read.body).not.toHaveProperty('secret');
    expect(read.body).toMatchObject({ url: 'http://127.0.0.1:9/hook', event_types: ['label_added'], enabled: true });

    for (const url of ['http://127.0.0.1:8123/v1/events', 'http://localhost:8123/', 'http://[::1]:2625/', 'http://0.0.0.0:8123/x']) {
      const res = await h.request('POST', '/v1/webhook_endpoints', { url });
      expect(res.status, url).toBe(422);
      expect(res.body.code).toBe('webhook_target_refused');
    }
    for (const url of ['ftp://example.com/x', 'not a url', 'http://user:pw@example.com/']) {
      const res = await h.request('POST', '/v1/webhook_endpoints', { url });
      expect(res.status, url).toBe(400);
    }
    const patched = await h.request('PATCH', `/v1/webhook_endpoints/${created.body.id}`, { url: 'http://localhost:8123/' });
    expect(patched.body.code).toBe('webhook_target_refused');
    expect((await h.request('PATCH', `/v1/webhook_endpoints/${created.body.id}`, {})).body.code).toBe('no_valid_fields');

    const other = { authorization: `Bearer ${await h.otherOrg()}` };
    expect((await h.request('GET', `/v1/webhook_endpoints/${created.body.id}`, undefined, other)).status).toBe(404);
    expect((await h.request('GET', `/v1/webhook_endpoints/${created.body.id}/deliveries`, undefined, other)).status).toBe(404);
    expect((await h.request('DELETE', `/v1/webhook_endpoints/${created.body.id}`, undefined, other)).status).toBe(404);
    expect((await h.request('GET', '/v1/webhook_endpoints', undefined, other)).body.data).toEqual([]);
    expect((await h.request('DELETE', `/v1/webhook_endpoints/${created.body.id}`)).status).toBe(204);
    expect((await h.request('GET', `/v1/webhook_endpoints/${created.body.id}`)).status).toBe(404);
  });
});

describe('webhook delivery', () => {
  it('delivers every event signed, survives the receiver being down, and logs each attempt', async () => {
    const port = await freePort();
    let secret = '';
    let rx = await receiver(port, () => secret);
    const created = await h.request('POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${port}/hook` });
    secret = created.body.secret;
    const ep = created.body.id;

    await label('a');
    await label('b');
    await run();
    expect(rx.got.map((r) => r.body?.data?.data?.label)).toEqual(['a', 'b']);
    expect(rx.got.every((r) => r.verified)).toBe(true);
    expect(rx.got[0]!.body).toMatchObject({ type: 'label_added', data: { type: 'label_added', conversation_id: conv } });
    const early = [...rx.got];

    // The receiver goes away; events keep coming.
    await rx.close();
    for (const l of ['c', 'd', 'e']) await label(l);
    await run();
    let log = (await h.request('GET', `/v1/webhook_endpoints/${ep}/deliveries?status=pending`)).body.data;
    expect(log).toHaveLength(3);
    for (const d of log) {
      expect(d).toMatchObject({ status: 'pending', attempt_count: 1, last_status_code: null });
      expect(d.attempts[0].error).toBeTruthy();
      expect(d.next_attempt_at).toBe(new Date(clock.now() + 5_000).toISOString());
    }
    clock.advance(5_000);
    await run(); // still down: second attempt, next one 5 min later
    clock.advance(60_000);
    await run(); // not due yet: nothing
    log = (await h.request('GET', `/v1/webhook_endpoints/${ep}/deliveries?status=pending`)).body.data;
    expect(log.map((d: any) => d.attempt_count)).toEqual([2, 2, 2]);

    rx = await receiver(port, () => secret);
    clock.advance(4 * 60_000);
    await run();
    await rx.close();
    const all = [...early, ...rx.got];
    expect(all.every((r) => r.verified)).toBe(true);
    const unique = new Map(all.map((r) => [r.id, r.body.data.data.label]));
    expect([...unique.values()].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);

    const delivered = (await h.request('GET', `/v1/webhook_endpoints/${ep}/deliveries`)).body.data;
    expect(delivered).toHaveLength(5);
    for (const d of delivered) {
      expect(d.status).toBe('succeeded');
      expect(d.next_attempt_at).toBeNull();
      expect(d.last_status_code).toBe(200);
      expect(d.last_latency_ms).toBeGreaterThanOrEqual(0);
      expect(d.attempts.at(-1).status_code).toBe(200);
    }
    expect(delivered.map((d: any) => d.attempt_count).sort()).toEqual([1, 1, 3, 3, 3]);
  });

  it('replays a delivery with the same webhook-id', async () => {
    const port = await freePort();
    let secret = '';
    const rx = await receiver(port, () => secret);
    const created = await h.request('POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${port}/`, event_types: ['label_added'] });
    secret = created.body.secret;
    await label('r');
    await run();
    const [d] = (await h.request('GET', `/v1/webhook_endpoints/${created.body.id}/deliveries`)).body.data;
    const replay = await h.request('POST', `/v1/webhook_endpoints/${created.body.id}/deliveries/${d.id}/replay`);
    expect(replay.status).toBe(202);
    expect(replay.body.status).toBe('pending');
    await run();
    await rx.close();
    expect(rx.got.map((r) => r.id)).toEqual([d.id, d.id]);
    expect(rx.got.every((r) => r.verified)).toBe(true);
    expect((await h.request('POST', `/v1/webhook_endpoints/${created.body.id}/deliveries/whd_nope/replay`)).status).toBe(404);
  });

  it('delivers a merge as the merged conversation\'s signed `merged` event, naming the survivor', async () => {
    const port = await freePort();
    let secret = '';
    const rx = await receiver(port, () => secret);
    const created = await h.request('POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${port}/`, event_types: ['merged'] });
    secret = created.body.secret;
    // A reply whose parent has not arrived opens its own conversation; the parent, a reply to the seed, links the two.
    const orphan = (await inbound(h, rawEmail({ from: 'x@x.test', to: 'hooks@shop.test', messageId: 'hook-c@x.test', inReplyTo: 'hook-b@x.test' }))).body.results[0].conversation_id;
    expect(orphan).not.toBe(conv);
    await inbound(h, rawEmail({ from: 'x@x.test', to: 'hooks@shop.test', messageId: 'hook-b@x.test', inReplyTo: 'hook-seed@x.test' }));
    await run();
    await rx.close();
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]!.verified).toBe(true);
    expect(rx.got[0]!.body).toMatchObject({ type: 'merged', data: { type: 'merged', conversation_id: orphan, data: { into: conv, reason: 'threading' } } });
  });

  it('keeps a slow endpoint to its own lane: a fast endpoint, and another organization\'s, get every event at once', async () => {
    const SLOW_MS = 1_500; // under the worker's 2 s attempt timeout, so every slow attempt succeeds
    // Well before the first slow answer (a global batch makes the fast endpoint wait for it), with room for a loaded machine.
    const PROMPT_MS = 1_000;
    const EVENTS = ENDPOINT_CONCURRENCY + 2; // a slow lane takes two rounds
    const secrets = new Map<number, string>();
    const hook = async (rx: Awaited<ReturnType<typeof receiver>>, port: number, headers?: Record<string, string>) => {
      const created = await h.request('POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${port}/`, event_types: ['label_added'] }, headers);
      secrets.set(port, created.body.secret);
      return { rx, id: created.body.id as string };
    };
    const listen = async (delayMs = 0) => {
      const port = await freePort();
      return hook(await receiver(port, () => secrets.get(port)!, () => 200, delayMs), port);
    };
    // Created first, so on a global queue their deliveries would be first in line.
    const slow = [await listen(SLOW_MS), await listen(SLOW_MS), await listen(SLOW_MS)];
    const fast = await listen();
    const other = { authorization: `Bearer ${await h.otherOrg()}` };
    const otherIdn = await h.request('POST', '/v1/identities', { handle: 'elsewhere' }, other);
    await h.request('POST', '/v1/mailboxes', { identity_id: otherIdn.body.id, address: 'hooks@elsewhere.test' }, other);
    const otherConv = (await inbound(h, rawEmail({ from: 'y@y.test', to: 'hooks@elsewhere.test', messageId: 'hook-other@y.test' }), '', other)).body.results[0].conversation_id;
    const otherPort = await freePort();
    const elsewhere = await hook(await receiver(otherPort, () => secrets.get(otherPort)!), otherPort, other);
    const labels = Array.from({ length: EVENTS }, (_, i) => `l${i}`);
    for (const l of labels) {
      await label(l);
      await h.request('POST', `/v1/conversations/${otherConv}/labels`, { labels: [l] }, other);
    }
    const labelsOf = (rx: { got: Received[] }) => rx.got.map((r) => r.body?.data?.data?.label);

    const t0 = performance.now();
    let passDone = 0;
    const pass = run().then(() => { passDone = performance.now(); });
    await expect.poll(() => fast.rx.got.length, { timeout: 5_000, interval: 10 }).toBe(EVENTS);
    await expect.poll(() => elsewhere.rx.got.length, { timeout: 5_000, interval: 10 }).toBe(EVENTS);
    const fastMs = Math.round(Math.max(...fast.rx.got.map((r) => r.at)) - t0);
    const elsewhereMs = Math.round(Math.max(...elsewhere.rx.got.map((r) => r.at)) - t0);
    expect(fastMs, `the fast endpoint's last event arrived after ${fastMs} ms`).toBeLessThan(PROMPT_MS);
    expect(elsewhereMs, `the other organization's last event arrived after ${elsewhereMs} ms`).toBeLessThan(PROMPT_MS);
    expect(labelsOf(fast.rx).sort()).toEqual([...labels].sort());
    expect(labelsOf(elsewhere.rx).sort()).toEqual([...labels].sort());

    // An event committed while the slow attempts hang goes out to the fast endpoint at once too.
    expect(passDone).toBe(0);
    const tLate = performance.now();
    await label('late');
    await expect.poll(() => labelsOf(fast.rx), { timeout: 5_000, interval: 10 }).toContain('late');
    const lateMs = Math.round(fast.rx.got.at(-1)!.at - tLate);
    expect(lateMs, `an event committed mid-pass reached the fast endpoint after ${lateMs} ms`).toBeLessThan(PROMPT_MS);
    expect(passDone).toBe(0);

    await pass;
    // The pass ended once the slow endpoints had everything, a lane's worth at a time, in order.
    expect(passDone - t0).toBeGreaterThanOrEqual(2 * SLOW_MS - 50);
    for (const s of slow) {
      expect(labelsOf(s.rx).sort()).toEqual([...labels, 'late'].sort());
      expect(s.rx.got.every((r) => r.verified)).toBe(true);
      expect(s.rx.maxOpen()).toBe(ENDPOINT_CONCURRENCY);
      expect(labelsOf(s.rx).slice(0, ENDPOINT_CONCURRENCY).sort()).toEqual(labels.slice(0, ENDPOINT_CONCURRENCY).sort());
      expect(Math.min(...s.rx.got.slice(ENDPOINT_CONCURRENCY).map((r) => r.at)) - t0).toBeGreaterThanOrEqual(SLOW_MS - 50);
      const log = (await h.request('GET', `/v1/webhook_endpoints/${s.id}/deliveries?limit=100`)).body.data;
      expect(log.map((d: any) => [d.status, d.attempt_count])).toEqual(Array(EVENTS + 1).fill(['succeeded', 1]));
    }
    for (const x of [...slow, fast, elsewhere]) await x.rx.close();
  }, 30_000);

  it('stops taking deliveries when the worker\'s signal aborts, and returns once the attempts in flight are recorded', async () => {
    const port = await freePort();
    let secret = '';
    const rx = await receiver(port, () => secret, () => 200, 1_000);
    const created = await h.request('POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${port}/`, event_types: ['label_added'] });
    secret = created.body.secret;
    for (let i = 0; i < ENDPOINT_CONCURRENCY + 2; i++) await label(`s${i}`);
    const stop = new AbortController();
    const pass = runWebhooks(h.store, { ...worker, signal: stop.signal });
    await expect.poll(() => rx.got.length, { timeout: 5_000, interval: 10 }).toBe(ENDPOINT_CONCURRENCY);
    stop.abort();
    await pass;
    await rx.close();
    expect(rx.got).toHaveLength(ENDPOINT_CONCURRENCY);
    const log = (await h.request('GET', `/v1/webhook_endpoints/${created.body.id}/deliveries`)).body.data;
    const byStatus = (st: string) => log.filter((d: any) => d.status === st).map((d: any) => d.attempt_count);
    expect(byStatus('succeeded')).toEqual(Array(ENDPOINT_CONCURRENCY).fill(1));
    expect(byStatus('pending')).toEqual([0, 0]); // left for the next pass, not leased
  });

  it('retries a failing delivery for more than 24 hours, then gives up; a long failure streak disables the endpoint', async () => {
    const port = await freePort();
    const rx = await receiver(port, () => 'whsec_AAAA', () => 503);
    const created = await h.request('POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${port}/`, event_types: ['label_added'] });
    const ep = created.body.id;
    await label('x');
    const start = clock.now();
    for (let i = 0; i < 40 * 12; i++) { // 40 h in 5-minute steps
      await run();
      clock.advance(5 * 60_000);
    }
    const [d] = (await h.request('GET', `/v1/webhook_endpoints/${ep}/deliveries`)).body.data;
    expect(d.status).toBe('failed');
    expect(d.attempt_count).toBe(MAX_ATTEMPTS);
    expect(d.attempts.map((a: any) => a.status_code)).toEqual(new Array(MAX_ATTEMPTS).fill(503));
    const span = Date.parse(d.attempts.at(-1).at) - Date.parse(d.attempts[0].at);
    expect(span).toBeGreaterThanOrEqual(24 * HOUR);
    expect(Date.parse(d.attempts[0].at)).toBe(start);
    expect((await h.request('GET', `/v1/webhook_endpoints/${ep}`)).body.enabled).toBe(true); // 40 h < 5 days

    // Failing for longer than the limit disables it; enabling it resumes from where it stopped.
    worker = { ...worker, disableAfterMs: 30 * HOUR };
    await label('y');
    await run();
    const disabled = (await h.request('GET', `/v1/webhook_endpoints/${ep}`)).body;
    expect(disabled.enabled).toBe(false);
    expect(disabled.disabled_reason).toMatch(/failed since/);
    const attemptsBefore = rx.got.length;
    await label('z');
    clock.advance(HOUR);
    await run();
    expect(rx.got.length).toBe(attemptsBefore); // nothing is sent while disabled
    const enabled = await h.request('PATCH', `/v1/webhook_endpoints/${ep}`, { enabled: true });
    expect(enabled.body).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });
    await run();
    expect(rx.got.length).toBeGreaterThan(attemptsBefore); // the pending one and the one dispatched after enabling
    expect(rx.got.slice(attemptsBefore).map((r) => r.body?.data?.data?.label ?? 'unverified')).toContain('unverified'); // the test secret is wrong on purpose
    const log = (await h.request('GET', `/v1/webhook_endpoints/${ep}/deliveries`)).body.data;
    expect(log.map((x: any) => x.event_type)).toEqual(['label_added', 'label_added', 'label_added']);
    await rx.close();
  });
});
