/**
 * `GET /metrics` of a real server (both listeners on loopback, its workers running), scraped
 * with `METRICS_TOKEN` over HTTP after real traffic: SMTP sessions, recipients and messages
 * (a raw client sees each reply), webhook deliveries to receivers on loopback, an open live
 * stream, the outbound queue's worker deferring mail for a relay that refuses connections,
 * store query latency by operation, and the process metrics.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, liveServer, rawEmail } from '../helpers.js';
import { parseExposition, valueOf, type Exposition } from '../metrics-text.js';
import { SmtpClient } from '../smtp-client.js';

const TOKEN = 'live-metrics-token-0123456789';
const MAX_BYTES = 64 * 1024;

/** Retries `check` until it passes or `ms` run out (then its last failure is thrown). */
async function eventually<T>(check: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** An HTTP receiver on loopback answering every request `status`; counts what it got. */
async function receiver(status: number) {
  let got = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { got++; res.writeHead(status).end(); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    got: () => got,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('GET /metrics of a running server', () => {
  let live: Awaited<ReturnType<typeof liveServer>>;
  let base: string;
  let key: string;
  let smtpPort: number;
  let conversation: string;

  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${base}${url}`, {
      method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() as any };
  };
  const scrape = async (): Promise<Exposition> => {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    return parseExposition(await res.text());
  };

  beforeAll(async () => {
    live = await liveServer({
      metricsToken: TOKEN, outboundAllowPrivate: true, maxMessageBytes: MAX_BYTES, smtpMaxConnectionsPerIp: 1, smtpMaxConnections: 2,
    });
    base = `http://127.0.0.1:${live.server.port}`;
    key = live.server.firstRun!.apiKey;
    smtpPort = live.server.smtpPort;
    const identity = await call('POST', '/v1/identities', { handle: 'live' });
    expect((await call('POST', '/v1/mailboxes', { identity_id: identity.body.id, address: 'in@live.test' })).status).toBe(201);
  });
  afterAll(async () => { await live?.close(); });

  it('needs METRICS_TOKEN over HTTP too', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
  });

  it('counts SMTP sessions opened and refused, recipients and messages by reply class, and what was ingested', async () => {
    const { client, greeting } = await SmtpClient.connect(smtpPort);
    expect(greeting.code).toBe(220);
    expect((await client.command('EHLO client.test')).code).toBe(250);
    expect((await client.command('MAIL FROM:<sender@far.test>')).code).toBe(250);
    expect((await client.command('RCPT TO:<nobody@live.test>')).code).toBe(550);
    expect((await client.command('RCPT TO:<in@live.test>')).code).toBe(250);
    expect((await client.command('DATA')).code).toBe(354);
    client.socket.write(rawEmail({ from: 'sender@far.test', to: 'in@live.test', messageId: 'smtp-1@far.test' }));
    expect((await client.command('.')).code).toBe(250);
    // Too large, sent without SIZE=: read to its end, then 552.
    expect((await client.command('MAIL FROM:<sender@far.test>')).code).toBe(250);
    expect((await client.command('RCPT TO:<in@live.test>')).code).toBe(250);
    expect((await client.command('DATA')).code).toBe(354);
    client.socket.write(`Subject: big\r\n\r\n${'x'.repeat(1000)}\r\n`.repeat(100));
    expect((await client.command('.')).code).toBe(552);

    // A second session from the same address (limit 1) is refused; one from another is opened (2 in all, the limit);
    // a third address finds the server full.
    const samePeer = await SmtpClient.connect(smtpPort);
    expect(samePeer.greeting.code).toBe(421);
    expect(await samePeer.client.closedWithin(2_000)).toBe(true);
    const other = await SmtpClient.connect(smtpPort, '127.0.0.2');
    expect(other.greeting.code).toBe(220);
    const full = await SmtpClient.connect(smtpPort, '127.0.0.3');
    expect(full.greeting.code).toBe(421);
    await Promise.all([client.quit(), other.client.quit(), full.client.closedWithin(2_000)]);

    const m = await scrape();
    expect(valueOf(m, 'switchboard_smtp_sessions_total', { result: 'opened' })).toBe(2);
    expect(valueOf(m, 'switchboard_smtp_sessions_total', { result: 'refused' })).toBe(2);
    expect(valueOf(m, 'switchboard_smtp_recipients_total', { result: 'refused', reply_class: '5xx' })).toBe(1);
    expect(valueOf(m, 'switchboard_smtp_recipients_total', { result: 'accepted', reply_class: '2xx' })).toBe(2);
    expect(valueOf(m, 'switchboard_smtp_messages_total', { result: 'accepted', reply_class: '2xx' })).toBe(1);
    expect(valueOf(m, 'switchboard_smtp_messages_total', { result: 'refused', reply_class: '5xx' })).toBe(1);
    expect(valueOf(m, 'switchboard_ingest_messages_total', { channel: 'email', outcome: 'stored' })).toBe(1);
    const list = await fetch(`${base}/v1/conversations`, { headers: { authorization: `Bearer ${key}` } });
    conversation = ((await list.json()) as any).data[0].id;
  });

  it('counts webhook attempts and deliveries by outcome, with their latency', async () => {
    const ok = await receiver(200);
    const failing = await receiver(500);
    try {
      for (const r of [ok, failing]) {
        expect((await call('POST', '/v1/webhook_endpoints', { url: r.url, event_types: ['label_added'] })).status).toBe(201);
      }
      expect((await call('POST', `/v1/conversations/${conversation}/labels`, { labels: ['vip'] })).status).toBe(200);
      // The commit kicks the worker: each endpoint gets its attempt; the failing one's retry is 5 s away.
      const m = await eventually(async () => {
        const e = await scrape();
        expect(valueOf(e, 'switchboard_webhook_attempts_total', { outcome: 'success' })).toBe(1);
        expect(valueOf(e, 'switchboard_webhook_attempts_total', { outcome: 'failure' })).toBe(1);
        return e;
      });
      expect(ok.got()).toBe(1);
      expect(failing.got()).toBe(1);
      expect(valueOf(m, 'switchboard_webhook_deliveries_total', { outcome: 'succeeded' })).toBe(1);
      expect(valueOf(m, 'switchboard_webhook_deliveries_total', { outcome: 'failed' })).toBe(0); // still being retried
      expect(valueOf(m, 'switchboard_webhook_attempt_duration_seconds_count', { outcome: 'success' })).toBe(1);
      expect(valueOf(m, 'switchboard_webhook_attempt_duration_seconds_bucket', { outcome: 'failure', le: '+Inf' })).toBe(1);
    } finally {
      await ok.close();
      await failing.close();
    }
  });

  it('gauges open live streams', async () => {
    const before = valueOf(await scrape(), 'switchboard_stream_subscribers');
    expect(before).toBe(0);
    const abort = new AbortController();
    const res = await fetch(`${base}/v1/events/stream`, { headers: { authorization: `Bearer ${key}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read(); // the stream has started
    await eventually(async () => expect(valueOf(await scrape(), 'switchboard_stream_subscribers')).toBe(1));
    abort.abort();
    await reader.cancel().catch(() => {});
    await eventually(async () => expect(valueOf(await scrape(), 'switchboard_stream_subscribers')).toBe(0));
  });

  it('counts the outbound worker\'s attempts and gauges what waits in the queue', async () => {
    const mailboxes = await fetch(`${base}/v1/mailboxes`, { headers: { authorization: `Bearer ${key}` } });
    const mailboxId = ((await mailboxes.json()) as any).data[0].id;
    // A relay where nothing listens: a temporary failure, retried in 30 s.
    expect((await call('PATCH', `/v1/mailboxes/${mailboxId}`, { smtp: { host: '127.0.0.1', port: await freePort() } })).status).toBe(200);
    const sent = await call('POST', `/v1/conversations/${conversation}/messages`, { text: 'Your order shipped.' });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    const m = await eventually(async () => {
      const e = await scrape();
      expect(valueOf(e, 'switchboard_outbound_email_attempts_total', { outcome: 'deferred' })).toBe(1);
      return e;
    });
    expect(valueOf(m, 'switchboard_send_messages_total', { channel: 'email', outcome: 'queued' })).toBe(1);
    expect(valueOf(m, 'switchboard_outbound_queue_messages', { state: 'deferred' })).toBe(1);
    expect(valueOf(m, 'switchboard_outbound_queue_messages', { state: 'queued' })).toBe(0);
  });

  it('times store queries by operation, and exports the process metrics', async () => {
    const m = await scrape();
    for (const operation of ['select', 'insert', 'update', 'transaction']) {
      expect(valueOf(m, 'switchboard_store_query_duration_seconds_count', { operation }), operation).toBeGreaterThan(0);
    }
    const selects = valueOf(m, 'switchboard_store_query_duration_seconds_count', { operation: 'select' });
    expect(valueOf(m, 'switchboard_store_query_duration_seconds_bucket', { operation: 'select', le: '+Inf' })).toBe(selects);
    expect(valueOf(m, 'switchboard_store_query_duration_seconds_sum', { operation: 'select' })).toBeGreaterThan(0);
    expect(valueOf(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(m, 'process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
    expect(m.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
  });
});
