/**
 * `GET /metrics` in-process: requests labelled by route pattern (never the raw URL),
 * unknown routes as one label, `METRICS_TOKEN`, inbound mail and HTTP-channel messages by
 * outcome, sends per channel by outcome (a real HTTP provider on loopback), and the
 * outbound queue's depth read from the store. The scrape is parsed; each assertion names
 * the series and labels it expects to move.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Provider, signedPost } from '../channels/http-provider.js';
import { freePort, harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';
import { parseExposition, series, valueOf, type Exposition } from '../metrics-text.js';

const TOKEN = 'metrics-token-0123456789abcdef';

async function scrape(h: Harness, headers: Record<string, string> = {}): Promise<Exposition> {
  const res = await h.app.inject({ method: 'GET', url: '/metrics', headers });
  expect(res.statusCode, res.body).toBe(200);
  return parseExposition(res.body);
}

describe('GET /metrics', () => {
  let h: Harness;
  beforeAll(async () => { h = await harness(); });
  afterAll(async () => h?.close());

  it('counts requests by route pattern, method and status, never by the raw URL; unknown routes are one label', async () => {
    const { identityId } = await identityWithMailbox(h, 'routes@metrics.test', 'routes');
    const stored = await inbound(h, rawEmail({ from: 'a@far.test', to: 'routes@metrics.test', messageId: 'route-1@far.test' }));
    const conversation = stored.body.results[0].conversation_id as string;
    expect((await h.request('GET', `/v1/conversations/${conversation}`)).status).toBe(200);
    expect((await h.request('GET', '/v1/conversations/conv_01h455vb4pex5vsknk084sn02q')).status).toBe(404);
    expect((await h.request('GET', '/v1/conversations/conv_01h455vb4pex5vsknk084sn02r')).status).toBe(404);
    expect((await h.request('GET', `/v1/identities/${identityId}`)).status).toBe(200);
    expect((await h.app.inject({ url: '/no/such/path-a1' })).statusCode).toBe(404);
    expect((await h.app.inject({ url: '/no/such/path-b2?x=1' })).statusCode).toBe(404);
    expect((await h.app.inject({ url: '/docs/json' })).statusCode).toBe(200);

    const m = await scrape(h);
    const route = '/v1/conversations/:id';
    expect(valueOf(m, 'switchboard_http_requests_total', { route, method: 'GET', status_code: '200' })).toBe(1);
    expect(valueOf(m, 'switchboard_http_requests_total', { route, method: 'GET', status_code: '404' })).toBe(2);
    expect(valueOf(m, 'switchboard_http_requests_total', { route: '/v1/identities/:id', method: 'GET', status_code: '200' })).toBe(1);
    expect(valueOf(m, 'switchboard_http_requests_total', { route: '/v1/inbound/email', method: 'POST', status_code: '201' })).toBe(1);
    expect(valueOf(m, 'switchboard_http_requests_total', { route: 'unmatched', method: 'GET', status_code: '404' })).toBe(2);
    expect(valueOf(m, 'switchboard_http_requests_total', { route: '/docs/json', method: 'GET', status_code: '200' })).toBe(1);
    // The latency histogram: one observation per request, in seconds.
    expect(valueOf(m, 'switchboard_http_request_duration_seconds_count', { route, method: 'GET', status_class: '4xx' })).toBe(2);
    expect(valueOf(m, 'switchboard_http_request_duration_seconds_bucket', { route, method: 'GET', status_class: '2xx', le: '+Inf' })).toBe(1);
    const sum = valueOf(m, 'switchboard_http_request_duration_seconds_sum', { route, method: 'GET' });
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(30);
    // No label anywhere carries an id or a path that was asked for.
    const values = m.samples.flatMap((s) => Object.values(s.labels));
    for (const raw of [conversation, identityId, 'conv_01h455vb4pex5vsknk084sn02q', '/no/such/path-a1', 'path-b2']) {
      expect(values.some((v) => v.includes(raw)), raw).toBe(false);
    }
  });

  it('is open without METRICS_TOKEN, hidden from the OpenAPI document, with HELP on every family and the process metrics', async () => {
    const res = await h.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const m = parseExposition(res.body);
    const ours = [...m.types.keys()].filter((n) => n.startsWith('switchboard_'));
    expect(ours.length).toBeGreaterThanOrEqual(16);
    for (const name of ours) {
      expect(m.help.get(name), name).toMatch(/\w{4,}/);
      if (m.types.get(name) === 'counter') expect(name).toMatch(/_total$/);
      if (m.types.get(name) === 'histogram') expect(name).toMatch(/_seconds$/);
    }
    expect(m.types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(series(m, 'process_resident_memory_bytes')).toHaveLength(1);
    expect(series(m, 'nodejs_eventloop_lag_seconds')).toHaveLength(1);
    const doc = (await h.app.inject({ url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
    expect(Object.keys(doc.paths)).not.toContain('/healthz');
  });

  it('counts inbound mail by outcome (stored, duplicate) and reads the outbound queue depth from the store', async () => {
    const before = await scrape(h);
    const { identityId, mailboxId } = await identityWithMailbox(h, 'queue@metrics.test', 'queue');
    const mail = rawEmail({ from: 'c@far.test', to: 'queue@metrics.test', messageId: 'queue-1@far.test' });
    expect((await inbound(h, mail)).status).toBe(201);
    expect((await inbound(h, mail)).status).toBe(200);
    // Without a relay a send is captured; with one (nothing listens there, and no worker runs here) it waits queued.
    const captured = await h.request('POST', '/v1/messages', { identity_id: identityId, to: 'lead@far.test', subject: 'Hi', text: 'Captured.' });
    expect(captured.status, JSON.stringify(captured.body)).toBe(202);
    expect((await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { smtp: { host: '127.0.0.1', port: await freePort() } })).status).toBe(200);
    for (const text of ['Queued one.', 'Queued two.']) {
      const queued = await h.request('POST', '/v1/messages', { identity_id: identityId, to: 'lead@far.test', subject: 'Hi', text });
      expect(queued.body.message.status).toBe('queued');
    }

    const after = await scrape(h);
    const delta = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(delta('switchboard_ingest_messages_total', { channel: 'email', outcome: 'stored' })).toBe(1);
    expect(delta('switchboard_ingest_messages_total', { channel: 'email', outcome: 'duplicate' })).toBe(1);
    expect(delta('switchboard_send_messages_total', { channel: 'email', outcome: 'captured' })).toBe(1);
    expect(delta('switchboard_send_messages_total', { channel: 'email', outcome: 'queued' })).toBe(2);
    expect(valueOf(after, 'switchboard_outbound_queue_messages', { state: 'queued' })).toBe(2);
    expect(valueOf(after, 'switchboard_outbound_queue_messages', { state: 'deferred' })).toBe(0);
    // A message that failed for good no longer counts as waiting.
    await h.store.db.updateTable('outbound_queue').set({ state: 'failed', next_attempt_at: null }).where('org_id', '=', h.orgId).execute();
    await h.store.db.updateTable('outbound_queue').set({ state: 'deferred' }).where('org_id', '=', h.orgId)
      .where('message_id', '=', (await h.store.db.selectFrom('outbound_queue').select('message_id').where('org_id', '=', h.orgId).orderBy('message_id').limit(1).executeTakeFirstOrThrow()).message_id)
      .execute();
    const later = await scrape(h);
    expect(valueOf(later, 'switchboard_outbound_queue_messages', { state: 'queued' })).toBe(0);
    expect(valueOf(later, 'switchboard_outbound_queue_messages', { state: 'deferred' })).toBe(1);
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  let h: Harness;
  beforeAll(async () => { h = await harness({ metricsToken: TOKEN }); });
  afterAll(async () => h?.close());

  it('answers 401 with WWW-Authenticate to a missing or wrong token, and the metrics to the right one', async () => {
    const refused = [
      {},
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: 'Bearer short' },
      { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
      { authorization: `Bearer ${h.key}` }, // an API key is not the metrics token
    ];
    for (const headers of refused) {
      const res = await h.app.inject({ url: '/metrics', headers });
      expect(res.statusCode, JSON.stringify(headers)).toBe(401);
      const bearer = /^Bearer /.test(String((headers as { authorization?: string }).authorization));
      expect(res.headers['www-authenticate']).toBe(bearer ? 'Bearer realm="metrics", error="invalid_token"' : 'Bearer realm="metrics"');
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 401, code: 'unauthenticated' });
      expect(res.body).not.toContain('switchboard_');
    }
    const ok = await h.app.inject({ url: '/metrics', headers: { authorization: `bearer ${TOKEN}` } });
    expect(ok.statusCode).toBe(200);
    const m = parseExposition(ok.body);
    expect(valueOf(m, 'switchboard_http_requests_total', { route: '/metrics', method: 'GET', status_code: '401' })).toBe(refused.length);
  });

  it('takes METRICS_TOKEN from the environment and refuses one shorter than 16 characters', () => {
    expect(loadConfig({}, { METRICS_TOKEN: TOKEN }).metricsToken).toBe(TOKEN);
    expect(loadConfig({}, {}).metricsToken).toBeNull();
    expect(() => loadConfig({}, { METRICS_TOKEN: 'too-short' })).toThrow(/metricsToken/);
  });
});

describe('channel metrics (HTTP channel, real provider on loopback)', () => {
  let h: Harness;
  let provider: Provider;
  let accountId: string;
  let secret: string;
  beforeAll(async () => {
    provider = await Provider.start();
    h = await harness({ providerTimeoutMs: 2_000 });
    const identityId = (await h.request('POST', '/v1/identities', { handle: 'bridge' })).body.id;
    const res = await h.request('POST', '/v1/channel_accounts', { identity_id: identityId, channel: 'http', address: 'bot-1', config: { outbound_url: `${provider.url}/outbound` } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    accountId = res.body.id;
    secret = res.body.secret;
    provider.secret = secret;
  });
  afterAll(async () => {
    await h?.close();
    await provider?.close();
  });

  it('counts inbound messages and sends per channel by outcome: stored, duplicate, sent, upstream_failed', async () => {
    const post = (payload: unknown) => {
      const signed = signedPost(secret, payload);
      return h.app.inject({ method: 'POST', url: `/v1/inbound/http/${accountId}`, headers: signed.headers, payload: signed.body });
    };
    const message = { type: 'message', id: 'in-1', from: { address: 'user-7' }, text: 'Hello' };
    const first = await post(message);
    expect(first.statusCode, first.body).toBe(200);
    expect((await post(message)).json()).toMatchObject({ duplicate: true });
    const conversation = first.json().conversation_id as string;
    const sent = await h.request('POST', `/v1/conversations/${conversation}/messages`, { text: 'Hi back' });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    provider.mode = 'fail-503';
    const failed = await h.request('POST', `/v1/conversations/${conversation}/messages`, { text: 'Again' }, { 'idempotency-key': 'metrics-retry' });
    expect(failed.status).toBe(502);

    const m = await scrape(h);
    expect(valueOf(m, 'switchboard_ingest_messages_total', { channel: 'http', outcome: 'stored' })).toBe(1);
    expect(valueOf(m, 'switchboard_ingest_messages_total', { channel: 'http', outcome: 'duplicate' })).toBe(1);
    expect(valueOf(m, 'switchboard_send_messages_total', { channel: 'http', outcome: 'sent' })).toBe(1);
    expect(valueOf(m, 'switchboard_send_messages_total', { channel: 'http', outcome: 'upstream_failed' })).toBe(1);
    expect(valueOf(m, 'switchboard_send_messages_total', { channel: 'email' })).toBe(0);
    expect(valueOf(m, 'switchboard_http_requests_total', { route: '/v1/inbound/http/:account_id', method: 'POST', status_code: '200' })).toBe(2);
    expect(valueOf(m, 'switchboard_http_requests_total', { route: '/v1/conversations/:id/messages', method: 'POST', status_code: '502' })).toBe(1);
  });
});
