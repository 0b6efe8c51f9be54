/**
 * SMS over Twilio, against a local fake Twilio over real HTTP both ways: the server
 * listens on a loopback port (its PUBLIC_URL), Twilio's webhooks and status callbacks
 * arrive signed, and the Messages API answers as Twilio does, failures included.
 */
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, harness, type Harness } from '../helpers.js';
import { FakeTwilio } from './fake-twilio.js';

const TIMEOUT_MS = 400;

let h: Harness;
let twilio: FakeTwilio;
let publicUrl: string;
let identityId: string;
let accountId: string;
const NUMBER = '+14155550100';

const webhookUrl = (account: string, kind: 'messages' | 'status') => `${publicUrl}/v1/inbound/twilio/${account}/${kind}`;

/** Counts this org's SMS conversations and their messages (through the API). */
async function smsTotals(): Promise<{ conversations: number; messages: number }> {
  const list = await h.request('GET', '/v1/conversations?channel=sms&limit=200');
  const rows = list.body.data as { message_count: number }[];
  return { conversations: rows.length, messages: rows.reduce((n, r) => n + r.message_count, 0) };
}

async function textIn(from: string, body: string, sid?: string) {
  const res = await twilio.post(webhookUrl(accountId, 'messages'), twilio.incomingFields({ From: from, To: NUMBER, Body: body, MessageSid: sid }));
  expect(res.status, res.text).toBe(200);
  return res;
}

async function conversationWith(counterpart: string): Promise<string> {
  const list = await h.request('GET', '/v1/conversations?channel=sms&limit=200');
  const conv = (list.body.data as { id: string; counterpart: string }[]).find((c) => c.counterpart === counterpart);
  if (!conv) throw new Error(`no SMS conversation with ${counterpart}`);
  return conv.id;
}

beforeAll(async () => {
  twilio = await FakeTwilio.start();
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  h = await harness({ publicUrl, providerTimeoutMs: TIMEOUT_MS, maxMessageBytes: 64 * 1024 });
  await h.app.listen({ port, host: '127.0.0.1' });
  identityId = (await h.request('POST', '/v1/identities', { handle: 'texts' })).body.id;
  const account = await h.request('POST', '/v1/channel_accounts', {
    identity_id: identityId, channel: 'sms', address: '+1 415 555 0100', display_name: 'Support line', config: twilio.accountConfig(),
  });
  expect(account.status, JSON.stringify(account.body)).toBe(201);
  accountId = account.body.id;
});
afterAll(async () => {
  await h?.close();
  await twilio?.close();
});

describe('an agent on SMS, through the HTTP API only', () => {
  it('receives a text, lists and reads the conversation, replies by id, and sees the delivery', async () => {
    const res = await textIn('+1 (415) 555-0123', 'Hi, is my order out?');
    expect(res.contentType).toMatch(/^text\/xml/);
    expect(res.text).toMatch(/<Response\/>$/);

    const list = await h.request('GET', '/v1/conversations?channel=sms');
    expect(list.status).toBe(200);
    const conv = list.body.data.find((c: { counterpart: string }) => c.counterpart === '+14155550123');
    expect(conv).toMatchObject({ channel: 'sms', account_id: accountId, identity_id: identityId, message_count: 1, unread_count: 1 });

    const snapshot = await h.request('GET', `/v1/conversations/${conv.id}`);
    expect(snapshot.status).toBe(200);
    expect(snapshot.body.sender).toEqual({
      id: accountId, channel: 'sms', address: NUMBER, display_name: 'Support line', status: 'active', status_reason: null,
    });
    expect(snapshot.body.sender_disconnected).toBe(false);
    const inbound = snapshot.body.events.find((e: { type: string }) => e.type === 'message');
    expect(inbound.data).toMatchObject({ direction: 'inbound', channel: 'sms', text: 'Hi, is my order out?', from: { address: '+14155550123' } });

    const reply = await h.request('POST', `/v1/conversations/${conv.id}/messages`, { text: 'Yes, it shipped today.' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body.message).toMatchObject({ direction: 'outbound', channel: 'sms', text: 'Yes, it shipped today.', status: 'queued' });
    const sent = twilio.accepted.at(-1)!;
    expect(sent).toMatchObject({
      to: '+14155550123', from: NUMBER, body: 'Yes, it shipped today.', statusCallback: webhookUrl(accountId, 'status'),
    });
    expect(twilio.requests.at(-1)).toMatchObject({ authorized: true, answered: 201 });
    const stored = await h.request('GET', `/v1/messages/${reply.body.message.id}`);
    expect(stored.body.provider_message_id).toBe(sent.sid);

    expect((await twilio.statusCallback(sent.sid, 'sent')).status).toBe(200);
    expect((await twilio.statusCallback(sent.sid, 'delivered')).status).toBe(200);
    const after = await h.request('GET', `/v1/messages/${reply.body.message.id}`);
    expect(after.body.status).toBe('delivered');
    const statuses = await h.request('GET', `/v1/conversations/${conv.id}/events?types=message_status`);
    expect(statuses.body.data.map((e: { data: { status: string } }) => e.data.status)).toEqual(['sent', 'delivered']);
  });
});

describe('incoming webhooks', () => {
  it('refuses a bad, missing or misdirected signature with 401 invalid_signature and stores nothing', async () => {
    const before = await smsTotals();
    const fields = twilio.incomingFields({ From: '+14155550124', To: NUMBER, Body: 'forged' });
    const url = webhookUrl(accountId, 'messages');
    const attempts = [
      await twilio.post(url, fields, { token: 'not-the-token' }),
      await twilio.post(url, fields, { signature: null }),
      await twilio.post(url, fields, { signedUrl: `${publicUrl}/v1/inbound/twilio/${accountId}/status` }),
      await twilio.post(url, fields, { signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(401);
      expect(res.contentType).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'invalid_signature', retryable: false });
    }
    // A field changed after signing.
    const tampered = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': getExpectedTwilioSignature(twilio.authToken, url, fields) },
      body: new URLSearchParams({ ...fields, Body: 'changed' }),
    });
    expect(tampered.status).toBe(401);
    expect(await smsTotals()).toEqual(before);
    // The same request, signed right, is stored.
    expect((await twilio.post(url, fields)).status).toBe(200);
    expect(await smsTotals()).toEqual({ conversations: before.conversations + 1, messages: before.messages + 1 });
    const status = await twilio.post(webhookUrl(accountId, 'status'), { MessageSid: 'SMx', MessageStatus: 'delivered' }, { token: 'nope' });
    expect(status.status).toBe(401);
  });

  it('answers 404 for an unknown account id or an account that is not SMS', async () => {
    const mailbox = await h.request('POST', '/v1/mailboxes', { identity_id: identityId, address: 'texts@example.test' });
    for (const id of ['acct_01h455vb4pex5vsknk084sn02q', 'nope', mailbox.body.id as string]) {
      const res = await twilio.post(webhookUrl(id, 'messages'), twilio.incomingFields({ From: '+14155550125', To: NUMBER, Body: 'x' }));
      expect(res.status).toBe(404);
      expect(res.json().code).toBe('not_found');
    }
  });

  it('stores a message Twilio delivers twice (same MessageSid) once', async () => {
    const sid = 'SM0000000000000000000000000000dup1';
    await textIn('+14155550126', 'Only once please', sid);
    await textIn('+14155550126', 'Only once please', sid);
    const conv = await conversationWith('+14155550126');
    const messages = await h.request('GET', `/v1/conversations/${conv}/messages`);
    expect(messages.body.data).toHaveLength(1);
    expect(messages.body.data[0]).toMatchObject({ provider_message_id: sid, text: 'Only once please' });
  });

  it('answers 502 when Twilio fails to serve a message\'s media, storing nothing until its retry succeeds', async () => {
    const sid = `MM${'2'.repeat(32)}`;
    const fields = twilio.incomingFields({
      From: '+14155550131', To: NUMBER, Body: 'see attached', MessageSid: sid, media: [twilio.addMedia(sid, Buffer.from('%PDF-1.4 invoice'), 'application/pdf')],
    });
    const before = await smsTotals();
    twilio.failNext({ status: 503 });
    const res = await twilio.post(webhookUrl(accountId, 'messages'), fields);
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ code: 'upstream_failed', retryable: true });
    expect(await smsTotals()).toEqual(before);
    expect((await twilio.post(webhookUrl(accountId, 'messages'), fields)).status).toBe(200);
    const [message] = (await h.request('GET', `/v1/conversations/${await conversationWith('+14155550131')}/messages`)).body.data;
    expect(message).toMatchObject({ text: 'see attached', media: [{ content_type: 'application/pdf', size_bytes: 16 }] });
  });

  it('fetches MMS media with the account\'s credentials; media over the size bound is left out', async () => {
    const sid = `MM${'1'.repeat(32)}`;
    const picture = Buffer.from('\x89PNG\r\n\x1a\nfake picture bytes');
    const small = twilio.addMedia(sid, picture, 'image/png');
    const huge = twilio.addMedia(sid, Buffer.alloc(100 * 1024, 1), 'image/jpeg');
    const fields = twilio.incomingFields({ From: '+14155550127', To: NUMBER, Body: '', MessageSid: sid, media: [small, huge] });
    const res = await twilio.post(webhookUrl(accountId, 'messages'), fields);
    expect(res.status, res.text).toBe(200);
    const conv = await conversationWith('+14155550127');
    const [message] = (await h.request('GET', `/v1/conversations/${conv}/messages`)).body.data;
    expect(message.media).toHaveLength(1);
    expect(message.media[0]).toMatchObject({ content_type: 'image/png', size_bytes: picture.length });
    const bytes = await h.app.inject({ method: 'GET', url: `/v1/media/${message.media[0].id}`, headers: { authorization: `Bearer ${h.key}` } });
    expect(bytes.statusCode).toBe(200);
    expect(bytes.rawPayload.equals(picture)).toBe(true);
  });

  it('keeps the furthest status when callbacks arrive out of order (delivered, then sent)', async () => {
    await textIn('+14155550128', 'Ping');
    const conv = await conversationWith('+14155550128');
    const reply = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Pong' });
    const { sid } = twilio.accepted.at(-1)!;
    await twilio.statusCallback(sid, 'delivered');
    await twilio.statusCallback(sid, 'sent');
    await twilio.statusCallback(sid, 'sending');
    expect((await h.request('GET', `/v1/messages/${reply.body.message.id}`)).body.status).toBe('delivered');
    const statuses = await h.request('GET', `/v1/conversations/${conv}/events?types=message_status`);
    expect(statuses.body.data.map((e: { data: { status: string } }) => e.data.status)).toEqual(['delivered']);
  });

  it('records an undelivered callback as failed with Twilio\'s error code', async () => {
    await textIn('+14155550129', 'Hello');
    const conv = await conversationWith('+14155550129');
    const reply = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Hi!' });
    await twilio.statusCallback(twilio.accepted.at(-1)!.sid, 'undelivered', { ErrorCode: '30003' });
    const message = (await h.request('GET', `/v1/messages/${reply.body.message.id}`)).body;
    expect(message.status).toBe('failed');
    const [event] = (await h.request('GET', `/v1/conversations/${conv}/events?types=message_status`)).body.data;
    expect(event.data).toMatchObject({ status: 'failed', error: 'Twilio error 30003' });
  });
});

describe('provider failures', () => {
  let conv: string;
  beforeAll(async () => {
    await textIn('+14155550130', 'Anyone there?');
    conv = await conversationWith('+14155550130');
  });

  it('sends an uploaded image as MMS: Twilio gets a signed MediaUrl that serves the same bytes', async () => {
    await textIn('+14155550160', 'Photo of the label?');
    const convId = await conversationWith('+14155550160');
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
    const form = new FormData();
    form.append('file', new Blob([png], { type: 'image/png' }), 'label.png');
    const uploaded = await fetch(`${publicUrl}/v1/media`, { method: 'POST', headers: { authorization: `Bearer ${h.key}` }, body: form });
    expect(uploaded.status).toBe(201);
    const media = await uploaded.json();
    const reply = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'Here it is', media_ids: [media.id] });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    const sent = twilio.accepted.at(-1)!;
    expect(sent).toMatchObject({ to: '+14155550160', body: 'Here it is' });
    expect(sent.mediaUrls).toHaveLength(1);
    expect(sent.mediaUrls[0]!.startsWith(`${publicUrl}/media/${media.id}?`)).toBe(true);
    const fetched = await fetch(sent.mediaUrls[0]!);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(png)).toBe(true);
  });

  it('answers a Twilio 5xx with 502 upstream_failed, retryable, and keeps the message as failed', async () => {
    twilio.failNext({ status: 503, message: 'Service Unavailable' });
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Checking' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'upstream_failed', retryable: true });
    expect(res.body.detail).toMatch(/503/);
    const [last] = (await h.request('GET', `/v1/conversations/${conv}/messages?order=desc&limit=1`)).body.data;
    expect(last).toMatchObject({ text: 'Checking', status: 'failed' });
  });

  it('answers a Twilio that does not answer within PROVIDER_TIMEOUT_MS with 502 upstream_failed', async () => {
    twilio.failNext({ hang: true });
    const started = Date.now();
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Still checking' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'upstream_failed', retryable: true });
    expect(res.body.detail).toMatch(/timed out after 400 ms/);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 5_000);
    expect(twilio.requests.at(-1)!.answered).toBe('hung');
  });

  it('answers an API nothing listens on with 502 upstream_failed', async () => {
    const patch = (config: Record<string, string>) => h.request('PATCH', `/v1/channel_accounts/${accountId}`, { config });
    await patch({ base_url: `http://127.0.0.1:${await freePort()}` });
    try {
      const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Hello from nowhere' });
      expect(res.status).toBe(502);
      expect(res.body).toMatchObject({ code: 'upstream_failed', retryable: true });
      expect(res.body.detail).toMatch(/could not be reached \(ECONNREFUSED\)/);
    } finally {
      await patch({ base_url: twilio.baseUrl });
    }
  });

  it('sends once when a 502 is retried with the same Idempotency-Key', async () => {
    const acceptedBefore = twilio.accepted.length;
    const requestsBefore = twilio.requests.length;
    twilio.failNext({ status: 503 });
    const headers = { 'idempotency-key': 'retry-me-1' };
    const first = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Your code is 1234' }, headers);
    expect(first.status).toBe(502);
    const retry = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Your code is 1234' }, headers);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.body.message.status).toBe('queued');
    const again = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Your code is 1234' }, headers);
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.message.id).toBe(retry.body.message.id);

    expect(twilio.requests.length - requestsBefore).toBe(2);
    expect(twilio.accepted.slice(acceptedBefore).map((m) => m.body)).toEqual(['Your code is 1234']);
    const messages = (await h.request('GET', `/v1/conversations/${conv}/messages?limit=200`)).body.data as { id: string; text: string; status: string }[];
    const mine = messages.filter((m) => m.text === 'Your code is 1234');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.id).toBe(retry.body.message.id);
    expect(mine[0]!.status).toBe('queued');
    const statuses = (await h.request('GET', `/v1/conversations/${conv}/events?types=message_status&limit=200`)).body.data
      .filter((e: { data: { message_id: string } }) => e.data.message_id === mine[0]!.id)
      .map((e: { data: { status: string } }) => e.data.status);
    expect(statuses).toEqual(['failed', 'queued']);
  });

  it('refuses the same Idempotency-Key after a 502 with another text (409 idempotency_conflict)', async () => {
    twilio.failNext({ status: 500 });
    const headers = { 'idempotency-key': 'retry-me-2' };
    expect((await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'First text' }, headers)).status).toBe(502);
    const other = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Another text' }, headers);
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('idempotency_conflict');
  });

  it('answers a number Twilio refuses (21211) with 201 and the message failed, never retried', async () => {
    twilio.failNext({ status: 400, code: 21211, message: 'The \'To\' number is not a valid phone number.' });
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Hello there' });
    expect(res.status).toBe(201);
    expect(res.body.message.status).toBe('failed');
    const [event] = (await h.request('GET', `/v1/conversations/${conv}/events?types=message_status&order=desc&limit=1`)).body.data;
    expect(event.data.error).toMatch(/21211/);
  });

  it('marks the account error on a 401, shows it in the snapshot, and refuses the next send with 409 sender_disconnected', async () => {
    const patch = (body: unknown) => h.request('PATCH', `/v1/channel_accounts/${accountId}`, body);
    expect((await patch({ config: { auth_token: 'revoked-token' } })).status).toBe(200);
    const refused = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Can you hear me?' });
    expect(refused.status).toBe(201);
    expect(refused.body.message.status).toBe('failed');
    expect(twilio.requests.at(-1)).toMatchObject({ authorized: false, answered: 401 });

    const snapshot = await h.request('GET', `/v1/conversations/${conv}`);
    expect(snapshot.body.sender).toMatchObject({ id: accountId, status: 'error' });
    expect(snapshot.body.sender.status_reason).toMatch(/401/);
    expect(snapshot.body.sender_disconnected).toBe(true);

    const requests = twilio.requests.length;
    const next = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Hello?' });
    expect(next.status).toBe(409);
    expect(next.body.code).toBe('sender_disconnected');
    expect(next.body.fix).toMatch(/reconnect/i);
    expect(twilio.requests.length).toBe(requests);

    expect((await patch({ config: { auth_token: twilio.authToken }, status: 'active' })).body).toMatchObject({ status: 'active', status_reason: null });
    expect((await h.request('GET', `/v1/conversations/${conv}`)).body.sender_disconnected).toBe(false);
    const back = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Hello?' });
    expect(back.status).toBe(201);
    expect(twilio.accepted.at(-1)).toMatchObject({ to: '+14155550130', body: 'Hello?' });
  });
});

describe('POST /v1/messages on SMS', () => {
  it('opens a conversation with a number and sends the first text through the identity\'s SMS account', async () => {
    const res = await h.request('POST', '/v1/messages', { channel: 'sms', identity_id: identityId, to: '+1 415-555-0199', text: 'Your table is ready.' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.message).toMatchObject({ channel: 'sms', direction: 'outbound', text: 'Your table is ready.', to: [{ address: '+14155550199' }] });
    expect(twilio.accepted.at(-1)).toMatchObject({ to: '+14155550199', from: NUMBER, body: 'Your table is ready.' });
    const conv = await h.request('GET', `/v1/conversations/${res.body.conversation_id}`);
    expect(conv.body).toMatchObject({ channel: 'sms', counterpart: '+14155550199', account_id: accountId, message_count: 1 });

    // The person answers: the same conversation.
    await textIn('+14155550199', 'Thanks, coming!');
    expect(await conversationWith('+14155550199')).toBe(res.body.conversation_id);
    // A second first send to the same number goes on in that conversation too.
    const again = await h.request('POST', '/v1/messages', { channel: 'sms', identity_id: identityId, to: '+14155550199', text: 'See you.', account_id: accountId });
    expect(again.body.conversation_id).toBe(res.body.conversation_id);
  });

  it('sends a first text with media as MMS: each upload is a signed MediaUrl Twilio can fetch', async () => {
    const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');
    const form = new FormData();
    form.append('file', new Blob([jpeg], { type: 'image/jpeg' }), 'receipt.jpg');
    const uploaded = await fetch(`${publicUrl}/v1/media`, { method: 'POST', headers: { authorization: `Bearer ${h.key}` }, body: form });
    expect(uploaded.status).toBe(201);
    const media = await uploaded.json();
    const res = await h.request('POST', '/v1/messages', { channel: 'sms', identity_id: identityId, to: '+1 415 555 0170', text: 'Your receipt', media_ids: [media.id] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.message).toMatchObject({ channel: 'sms', media: [{ id: media.id, content_type: 'image/jpeg', filename: 'receipt.jpg' }] });
    const sent = twilio.accepted.at(-1)!;
    expect(sent).toMatchObject({ to: '+14155550170', body: 'Your receipt' });
    expect(sent.mediaUrls).toHaveLength(1);
    expect(sent.mediaUrls[0]!.startsWith(`${publicUrl}/media/${media.id}?expires=`)).toBe(true);
    const fetched = await fetch(sent.mediaUrls[0]!);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await fetched.arrayBuffer()).equals(jpeg)).toBe(true);
  });

  it('keeps phone numbers on contacts in E.164 and opens an SMS conversation for a contact', async () => {
    const bad = await h.request('POST', '/v1/contacts', { addresses: [{ channel: 'sms', address: 'not a number' }] });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'validation_failed', param: 'addresses.0.address' });
    const contact = await h.request('POST', '/v1/contacts', { display_name: 'Sam', addresses: [{ channel: 'sms', address: '+1 (415) 555-0171' }] });
    expect(contact.status, JSON.stringify(contact.body)).toBe(201);
    expect(contact.body.addresses).toEqual([{ channel: 'sms', address: '+14155550171' }]);
    expect((await h.request('GET', '/v1/contacts?address=%2B1%20415%20555%200171')).body.data.map((c: { id: string }) => c.id)).toEqual([contact.body.id]);
    const opened = await h.request('POST', `/v1/contacts/${contact.body.id}/conversations`, { identity_id: identityId });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    expect(opened.body).toMatchObject({ channel: 'sms', counterpart: '+14155550171', account_id: accountId, contact_id: contact.body.id });
    const reply = await h.request('POST', `/v1/conversations/${opened.body.id}/messages`, { text: 'Hi Sam' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(twilio.accepted.at(-1)).toMatchObject({ to: '+14155550171', from: NUMBER, body: 'Hi Sam' });
    // The person's answer lands in that conversation, which the contact's next open returns.
    await textIn('+14155550171', 'Hello!');
    expect(await conversationWith('+14155550171')).toBe(opened.body.id);
    const again = await h.request('POST', `/v1/contacts/${contact.body.id}/conversations`, { identity_id: identityId, channel: 'sms' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(opened.body.id);
    const noImessage = await h.request('POST', `/v1/contacts/${contact.body.id}/conversations`, { identity_id: identityId, channel: 'imessage' });
    expect(noImessage.status).toBe(422);
    expect(noImessage.body.code).toBe('no_recipient');
  });

  it('sends once when a first send\'s 502 is retried with the same Idempotency-Key', async () => {
    const before = twilio.accepted.length;
    twilio.failNext({ status: 502 });
    const body = { channel: 'sms', identity_id: identityId, to: '+14155550198', text: 'Welcome aboard' };
    const headers = { 'idempotency-key': 'first-send-1' };
    expect((await h.request('POST', '/v1/messages', body, headers)).status).toBe(502);
    const retry = await h.request('POST', '/v1/messages', body, headers);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(twilio.accepted.length - before).toBe(1);
    const messages = (await h.request('GET', `/v1/conversations/${retry.body.conversation_id}/messages`)).body.data;
    expect(messages).toHaveLength(1);
    expect(messages[0].id).toBe(retry.body.message.id);
  });

  it('refuses what is not a phone number, a missing text, another identity\'s account, and an identity without SMS', async () => {
    const bad = await h.request('POST', '/v1/messages', { channel: 'sms', identity_id: identityId, to: 'call me maybe', text: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'validation_failed', param: 'to' });
    const noText = await h.request('POST', '/v1/messages', { channel: 'sms', identity_id: identityId, to: '+14155550197' });
    expect(noText.status).toBe(400);
    expect(noText.body).toMatchObject({ code: 'validation_failed', param: 'text' });
    const subject = await h.request('POST', '/v1/messages', { channel: 'sms', identity_id: identityId, to: '+14155550197', text: 'x', subject: 'Hi' });
    expect(subject.status).toBe(400);
    expect(subject.body).toMatchObject({ code: 'validation_failed', param: 'subject' });

    // An email first send still names its own fields.
    const email = await h.request('POST', '/v1/messages', { identity_id: identityId, to: 'ann@example.test', text: 'x' });
    expect(email.status).toBe(400);
    expect(email.body).toMatchObject({ code: 'validation_failed', param: 'subject' });

    const other = (await h.request('POST', '/v1/identities', { handle: 'no-sms' })).body.id as string;
    const foreign = await h.request('POST', '/v1/messages', { channel: 'sms', identity_id: other, to: '+14155550197', text: 'x', account_id: accountId });
    expect(foreign.status).toBe(404);
    expect(foreign.body.param).toBe('account_id');
    const none = await h.request('POST', '/v1/messages', { channel: 'sms', identity_id: other, to: '+14155550197', text: 'x' });
    expect(none.status).toBe(422);
    expect(none.body.code).toBe('no_sender');
    expect(none.body.fix).toMatch(/channel_accounts/);
  });
});
