/**
 * The generic HTTP channel over real HTTP: signed inbound posts (messages, statuses,
 * reactions) through `POST /v1/inbound/http/{account_id}`, and replies POSTed to a local
 * provider server that verifies our Standard Webhooks signature, including its failures.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newHttpSecret, signatureHeaders, verifySignature } from '../../src/channels/http/signing.js';
import { harness, freePort, type Harness } from '../helpers.js';
import { Provider, signedPost, PNG } from './http-provider.js';

let h: Harness;
let provider: Provider;
let accountId: string;
let secret: string;

const post = (payload: unknown, opts: { secret?: string; at?: Date; account?: string; tamper?: (body: string) => string } = {}) => {
  const signed = signedPost(opts.secret ?? secret, payload, { at: opts.at });
  const body = opts.tamper ? opts.tamper(signed.body) : signed.body;
  return h.app.inject({ method: 'POST', url: `/v1/inbound/http/${opts.account ?? accountId}`, headers: signed.headers, payload: body });
};
const eventCount = async () => Number((await h.store.db.selectFrom('events').select((eb) => eb.fn.countAll().as('n')).where('org_id', '=', h.orgId).executeTakeFirstOrThrow()).n);

beforeAll(async () => {
  provider = await Provider.start();
  h = await harness({ providerTimeoutMs: 400, publicUrl: `http://127.0.0.1:${await freePort()}` });
  const identityId = (await h.request('POST', '/v1/identities', { handle: 'bridge' })).body.id;
  const res = await h.request('POST', '/v1/channel_accounts', {
    identity_id: identityId, channel: 'http', address: 'bot-42', config: { outbound_url: `${provider.url}/outbound` },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.secret).toMatch(/^whsec_/);
  expect(res.body.config).toEqual({ outbound_url: `${provider.url}/outbound`, secret: true });
  accountId = res.body.id;
  secret = res.body.secret;
  provider.secret = secret;
});
afterAll(async () => {
  await h?.close();
  await provider?.close();
});
beforeEach(() => { provider.mode = 'ok'; });

describe('HTTP channel accounts', () => {
  it('shows a generated secret once: later reads show only that one is set', async () => {
    const read = await h.request('GET', `/v1/channel_accounts/${accountId}`);
    expect(read.body.config.secret).toBe(true);
    expect(read.body.secret).toBeUndefined();
  });

  it('refuses a secret that is not a Standard Webhooks secret, and an outbound_url that is not http(s)', async () => {
    const identityId = (await h.request('POST', '/v1/identities', { handle: 'bad-secret' })).body.id;
    const bad = await h.request('POST', '/v1/channel_accounts', { identity_id: identityId, channel: 'linkedin', address: 'urn:li:1', config: { secret: 'hunter2' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'validation_failed', param: 'config.secret' });
    const url = await h.request('POST', '/v1/channel_accounts', { identity_id: identityId, channel: 'http', address: 'x', config: { outbound_url: 'ftp://x' } });
    expect(url.body).toMatchObject({ code: 'validation_failed', param: 'config.outbound_url' });
    const given = newHttpSecret();
    const ok = await h.request('POST', '/v1/channel_accounts', { identity_id: identityId, channel: 'linkedin', address: 'urn:li:2', config: { secret: given } });
    expect(ok.status).toBe(201);
    expect(ok.body.secret).toBeUndefined();
  });
});

describe('inbound posts', () => {
  let conversationId: string;

  it('stores a signed message in the conversation with its sender, and answers after the commit', async () => {
    const res = await post({ type: 'message', id: 'in-1', from: { address: 'user-7', name: 'Ada Lovelace' }, text: 'Hello from the bridge', sent_at: '2024-01-02T03:04:05Z' });
    expect(res.statusCode, res.body).toBe(200);
    const ack = res.json();
    expect(ack).toMatchObject({ received: true, duplicate: false });
    expect(ack.message_id).toMatch(/^msg_/);
    conversationId = ack.conversation_id;
    const conv = (await h.request('GET', `/v1/conversations/${conversationId}`)).body;
    expect(conv).toMatchObject({ channel: 'http', counterpart: 'user-7', message_count: 1, unread_count: 1 });
    const msg = (await h.request('GET', `/v1/messages/${ack.message_id}`)).body;
    expect(msg).toMatchObject({ direction: 'inbound', text: 'Hello from the bridge', from: { address: 'user-7', name: 'Ada Lovelace' }, provider_message_id: 'in-1' });
  });

  it('stores a repeated message id once', async () => {
    const before = await eventCount();
    const again = await post({ type: 'message', id: 'in-1', from: { address: 'user-7' }, text: 'Hello from the bridge' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ received: true, conversation_id: conversationId, message_id: null, duplicate: true });
    expect(await eventCount()).toBe(before);
  });

  it('refuses a missing, wrong, stale or altered signature with 401 invalid_signature and stores nothing', async () => {
    const before = await eventCount();
    const payload = { type: 'message', id: 'evil-1', from: { address: 'mallory' }, text: 'let me in' };
    const attempts = [
      await h.app.inject({ method: 'POST', url: `/v1/inbound/http/${accountId}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) }),
      await post(payload, { secret: newHttpSecret() }),
      await post(payload, { at: new Date(Date.now() - 10 * 60_000) }),
      await post(payload, { tamper: (b) => b.replace('let me in', 'let me in!') }),
      await post(payload, { account: 'acct_01h455vb4pex5vsknk084sn02q' }),
      await post(payload, { account: 'not-an-account' }),
    ];
    for (const res of attempts) {
      expect(res.statusCode, res.body).toBe(401);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.json().code).toBe('invalid_signature');
    }
    expect(await eventCount()).toBe(before);
    expect((await h.request('GET', '/v1/conversations?channel=http&with=mallory')).body.data).toEqual([]);
  });

  it('answers a signed post that is not a valid payload with 400 and stores nothing', async () => {
    const before = await eventCount();
    const res = await post({ type: 'message', id: 'x', text: 'no sender' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'validation_failed', param: 'from' });
    const body = '{"type": "message", ';
    const raw = await h.app.inject({
      method: 'POST', url: `/v1/inbound/http/${accountId}`, headers: { 'content-type': 'application/json', ...signatureHeaders(secret, 'wh-1', body) }, payload: body,
    });
    expect(raw.statusCode).toBe(400);
    expect(raw.json().detail).toMatch(/not valid JSON/);
    expect(await eventCount()).toBe(before);
  });

  it('keeps media sent inline (base64) and by URL', async () => {
    provider.files.set('card.png', { type: 'image/png', bytes: PNG });
    const res = await post({
      type: 'message', id: 'in-media', from: { address: 'user-7' }, text: 'two pictures',
      media: [{ data: PNG.toString('base64'), content_type: 'image/png', filename: 'inline.png' }, { url: `${provider.url}/files/card.png`, content_type: 'image/png' }],
    });
    expect(res.statusCode, res.body).toBe(200);
    const msg = (await h.request('GET', `/v1/messages/${res.json().message_id}`)).body;
    expect(msg.media).toHaveLength(2);
    for (const m of msg.media) {
      const file = await h.app.inject({ url: `/v1/media/${m.id}`, headers: { authorization: `Bearer ${h.key}` } });
      expect(file.statusCode).toBe(200);
      expect(file.rawPayload.equals(PNG)).toBe(true);
    }
  });
});

describe('replies and what the provider says about them', () => {
  let conversationId: string;
  const lastSent = () => provider.requests.at(-1)!;

  beforeAll(async () => {
    conversationId = (await post({ type: 'message', id: 'in-thread', from: { address: 'user-9' }, text: 'Any news?' })).json().conversation_id;
  });

  it('POSTs a reply to the outbound URL signed with the account secret, and records the provider id', async () => {
    const res = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'Yes: shipped.' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.message).toMatchObject({ status: 'sent', direction: 'outbound', channel: 'http' });
    const req = lastSent();
    expect(req.verified).toBe(true);
    expect(req.headers['webhook-id']).toBe(res.body.message.id);
    expect(req.body).toEqual({ type: 'message', id: res.body.message.id, conversation_id: conversationId, to: 'user-9', from: 'bot-42', text: 'Yes: shipped.', media: [] });
  });

  it('moves statuses forward only, whether they name the provider id or ours', async () => {
    const sent = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'Tracking: 1Z999' });
    const ours = sent.body.message.id as string;
    const providerId = provider.lastId!;
    const status = (s: string, ref = providerId) => post({ type: 'status', message_id: ref, status: s });
    expect((await status('delivered')).json()).toMatchObject({ message_id: ours, conversation_id: conversationId });
    await status('sent');
    expect((await h.request('GET', `/v1/messages/${ours}`)).body.status).toBe('delivered');
    await status('read', ours);
    expect((await h.request('GET', `/v1/messages/${ours}`)).body.status).toBe('read');
    const unknown = await status('read', 'never-sent');
    expect(unknown.json()).toEqual({ received: true, conversation_id: null, message_id: null, duplicate: false });
  });

  it('takes statuses by our id when the provider answered without one', async () => {
    provider.mode = 'no-id';
    const sent = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'no id back' });
    expect(sent.body.message.status).toBe('sent');
    await post({ type: 'status', message_id: sent.body.message.id, status: 'failed', error: 'recipient gone' });
    expect((await h.request('GET', `/v1/messages/${sent.body.message.id}`)).body).toMatchObject({ status: 'failed' });
  });

  it('appends an inbound reaction to the message it names', async () => {
    const sent = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'React to this' });
    const providerId = provider.lastId!;
    const signed = signedPost(secret, { type: 'reaction', message_id: providerId, reaction: '👍' });
    const deliver = () => h.app.inject({ method: 'POST', url: `/v1/inbound/http/${accountId}`, headers: signed.headers, payload: signed.body });
    const res = await deliver();
    expect(res.json()).toMatchObject({ message_id: sent.body.message.id, duplicate: false });
    // The provider retries the same post (same webhook-id): stored once.
    expect((await deliver()).json()).toMatchObject({ duplicate: true });
    await post({ type: 'reaction', message_id: providerId, reaction: '👍', removed: true });
    const events = (await h.request('GET', `/v1/conversations/${conversationId}/events?types=reaction`)).body.data;
    expect(events.map((e: any) => e.data)).toEqual([
      expect.objectContaining({ message_id: sent.body.message.id, reaction: '👍', removed: false, direction: 'inbound' }),
      expect.objectContaining({ message_id: sent.body.message.id, reaction: '👍', removed: true, direction: 'inbound' }),
    ]);
  });

  it('answers a provider 5xx and a provider that never answers with 502 upstream_failed, retryable, keeping the message as failed', async () => {
    for (const mode of ['fail-503', 'hang'] as const) {
      provider.mode = mode;
      const res = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: `try (${mode})` });
      expect(res.status, mode).toBe(502);
      expect(res.body).toMatchObject({ code: 'upstream_failed', retryable: true });
    }
    const failed = (await h.request('GET', `/v1/conversations/${conversationId}/messages?order=desc&limit=2`)).body.data;
    expect(failed.map((m: any) => [m.text, m.status])).toEqual([['try (hang)', 'failed'], ['try (fail-503)', 'failed']]);
    expect(failed[0].error).toMatch(/timed out/);
  });

  it('sends once for a retried Idempotency-Key', async () => {
    const before = provider.requests.length;
    const headers = { 'idempotency-key': 'reply-once-1' };
    const first = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'exactly once' }, headers);
    const retry = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'exactly once' }, headers);
    expect(first.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    expect(provider.requests.length - before).toBe(1);
  });

  it('marks the account `error` on a provider 401, so later sends are 409 sender_disconnected', async () => {
    provider.mode = 'fail-401';
    await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'rejected' });
    expect((await h.request('GET', `/v1/channel_accounts/${accountId}`)).body).toMatchObject({ status: 'error', status_reason: expect.stringMatching(/^HTTP 401/) });
    const refused = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'again' });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('sender_disconnected');
    await h.request('PATCH', `/v1/channel_accounts/${accountId}`, { status: 'active' });
  });

  it('answers a refused connection with 502 upstream_failed', async () => {
    const identityId = (await h.request('POST', '/v1/identities', { handle: 'nowhere' })).body.id;
    const acct = await h.request('POST', '/v1/channel_accounts', {
      identity_id: identityId, channel: 'http', address: 'bot-nowhere', config: { outbound_url: `http://127.0.0.1:${await freePort()}/x` },
    });
    const signed = signedPost(acct.body.secret, { type: 'message', id: 'n1', from: { address: 'u' }, text: 'hi' });
    const conv = (await h.app.inject({ method: 'POST', url: `/v1/inbound/http/${acct.body.id}`, headers: signed.headers, payload: signed.body })).json().conversation_id;
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'anyone?' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'upstream_failed', retryable: true, detail: expect.stringMatching(/ECONNREFUSED/) });
  });
});

describe('signing', () => {
  it('verifies what it signs, and nothing with a body changed in any byte', () => {
    const key = newHttpSecret();
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 200 }), fc.nat(), (text, at) => {
      const body = JSON.stringify({ text });
      const headers = signatureHeaders(key, 'msg_1', body);
      expect(verifySignature(key, headers, Buffer.from(body))).toBe(true);
      const i = at % body.length;
      const altered = body.slice(0, i) + String.fromCharCode(body.charCodeAt(i) ^ 1) + body.slice(i + 1);
      expect(verifySignature(key, headers, Buffer.from(altered))).toBe(false);
    }));
  });
});
