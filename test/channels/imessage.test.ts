/**
 * iMessage through BlueBubbles, over real HTTP both ways: our server listens on a
 * loopback port and receives webhooks the fake BlueBubbles server (./fake-bluebubbles.ts)
 * posts; replies, tapbacks, read receipts and typing indicators reach the fake server's
 * REST API. Covers the token check, dedup by guid, tapbacks in and out, delivery and read
 * updates out of order, typing both ways, an unreachable server, and one agent flow
 * through the HTTP API only.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findConversation } from '../../src/store/conversations.js';
import { inOrgTransaction } from '../../src/store/sequences.js';
import { appendEvents } from '../../src/store/timeline.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';
import { FakeBlueBubbles } from './fake-bluebubbles.js';

const TOKEN = 'whk_4c1f0e8b9a7d6e5f';
const PERSON = '+14155550123';
const CHAT = `iMessage;-;${PERSON}`;
const REPLY_PERSON = '+14155550145';
const REPLY_CHAT = `iMessage;-;${REPLY_PERSON}`;

let h: Harness;
let fake: FakeBlueBubbles;
let base: string;
let accountId: string;
let identityId: string;
let hook: string;

beforeAll(async () => {
  fake = new FakeBlueBubbles('bb-secret-password');
  await fake.start();
  h = await harness({ providerTimeoutMs: 400 });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const address = h.app.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  identityId = (await h.request('POST', '/v1/identities', { handle: 'concierge' })).body.id;
  const account = await h.request('POST', '/v1/channel_accounts', {
    identity_id: identityId, channel: 'imessage', address: 'Concierge@iCloud.example',
    config: { server_url: fake.url, password: fake.password, webhook_token: TOKEN },
  });
  expect(account.status, JSON.stringify(account.body)).toBe(201);
  expect(account.body.config).toEqual({ server_url: fake.url, password: true, webhook_token: true });
  accountId = account.body.id;
  hook = `${base}/v1/inbound/bluebubbles/${accountId}?token=${TOKEN}`;
});
afterAll(async () => {
  await h?.close();
  await fake?.stop();
});

/** The person texts us: a `new-message` webhook; @returns its guid and our answer. */
async function personSays(text: string, from = PERSON, guid?: string) {
  const data = fake.message({ text, isFromMe: false, chatGuid: `iMessage;-;${from}`, guid });
  const res = await fake.post(hook, 'new-message', data);
  return { guid: data.guid as string, res };
}

const events = async (conv: string) => (await h.request('GET', `/v1/conversations/${conv}/events?limit=200`)).body.data as any[];
const account = async () => (await h.request('GET', `/v1/channel_accounts/${accountId}`)).body;
const countEvents = async () => Number((await h.store.db.selectFrom('events').select((eb) => eb.fn.countAll().as('n')).where('org_id', '=', h.orgId).executeTakeFirstOrThrow()).n);

describe('BlueBubbles webhooks', () => {
  it('refuses a webhook without the account\'s token with 401 invalid_signature, before reading the body, and stores nothing', async () => {
    const before = await countEvents();
    const data = fake.message({ text: 'let me in', isFromMe: false, chatGuid: CHAT });
    const urls = [
      `${base}/v1/inbound/bluebubbles/${accountId}`,
      `${base}/v1/inbound/bluebubbles/${accountId}?token=wrong`,
      `${base}/v1/inbound/bluebubbles/${accountId}?token=${TOKEN}x`,
      `${base}/v1/inbound/bluebubbles/acct_01h455vb4pex5vsknk084sn02q?token=${TOKEN}`,
      `${base}/v1/inbound/bluebubbles/not-an-id?token=${TOKEN}`,
    ];
    for (const url of urls) {
      const res = await fake.post(url, 'new-message', data);
      expect(res.status, url).toBe(401);
      expect(res.body).toMatchObject({ code: 'invalid_signature', status: 401 });
      expect(res.body.fix).toMatch(/token/);
    }
    const garbage = await fetch(`${base}/v1/inbound/bluebubbles/${accountId}?token=nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(garbage.status).toBe(401);
    expect(await countEvents()).toBe(before);
    expect((await h.request('GET', '/v1/conversations?channel=imessage')).body.data).toEqual([]);
  });

  it('files a message from the person once per guid, with the address in E.164', async () => {
    const first = await personSays('Is the table for four still free tonight?', '+1 (415) 555-0123');
    expect(first.res.status).toBe(200);
    expect(first.res.body).toMatchObject({ status: 'stored', event: 'new-message' });
    const again = await fake.post(hook, 'new-message', fake.message({ text: 'Is the table for four still free tonight?', isFromMe: false, chatGuid: CHAT, guid: first.guid }));
    expect(again.body).toMatchObject({ status: 'duplicate', conversation_id: first.res.body.conversation_id });
    const conv = (await h.request('GET', `/v1/conversations/${first.res.body.conversation_id}`)).body;
    expect(conv).toMatchObject({ channel: 'imessage', counterpart: PERSON, message_count: 1, unread_count: 1 });
    const message = conv.events.find((e: any) => e.type === 'message');
    expect(message.data).toMatchObject({ direction: 'inbound', provider_message_id: first.guid, text: 'Is the table for four still free tonight?', from: { address: PERSON } });
  });

  it('ignores chat-read-status-changed, group chats and our own messages sent from the Mac', async () => {
    const before = await countEvents();
    expect((await fake.post(hook, 'chat-read-status-changed', { chatGuid: CHAT, read: true })).body.status).toBe('ignored');
    expect((await fake.post(hook, 'new-message', fake.message({ text: 'hi all', isFromMe: false, chatGuid: 'iMessage;+;chat493', from: PERSON }))).body.status).toBe('ignored');
    expect((await fake.post(hook, 'new-message', fake.message({ text: 'typed on the Mac', isFromMe: true, chatGuid: CHAT }))).body.status).toBe('ignored');
    expect((await fake.post(hook, 'server-update', '1.9.9')).body.status).toBe('ignored');
    expect(await countEvents()).toBe(before);
  });

  it('records the person\'s tapback and its removal on the message they reacted to, once per tapback guid', async () => {
    const { guid, res } = await personSays('Can I bring a dog?');
    const conv = res.body.conversation_id;
    const love = fake.message({ text: 'Loved “Can I bring a dog?”', isFromMe: false, chatGuid: CHAT, associatedMessageGuid: `p:0/${guid}`, associatedMessageType: 'love' });
    expect((await fake.post(hook, 'new-message', love)).body).toMatchObject({ status: 'stored', conversation_id: conv, message_id: res.body.message_id });
    expect((await fake.post(hook, 'new-message', love)).body.status).toBe('duplicate');
    // Older servers send the numeric codes: 3000 takes a love back.
    const unlove = fake.message({ text: 'Removed a heart from “Can I bring a dog?”', isFromMe: false, chatGuid: CHAT, associatedMessageGuid: `p:0/${guid}`, associatedMessageType: 3000 });
    expect((await fake.post(hook, 'new-message', unlove)).body.status).toBe('stored');
    const stranger = fake.message({ text: 'Liked “?”', isFromMe: false, chatGuid: CHAT, associatedMessageGuid: 'p:0/NOT-A-KNOWN-GUID', associatedMessageType: 'like' });
    expect((await fake.post(hook, 'new-message', stranger)).body.status).toBe('ignored');
    const reactions = (await events(conv)).filter((e) => e.type === 'reaction');
    expect(reactions.map((e) => e.data)).toEqual([
      { message_id: res.body.message_id, reaction: 'love', removed: false, direction: 'inbound', by: null },
      { message_id: res.body.message_id, reaction: 'love', removed: true, direction: 'inbound', by: null },
    ]);
    // A tapback is not a message: the counts stay.
    expect((await h.request('GET', `/v1/conversations/${conv}`)).body.message_count).toBe(2);
  });

  it('puts the person\'s typing on the live stream as an inbound typing signal', async () => {
    const { res } = await personSays('one sec');
    const conv = res.body.conversation_id;
    const controller = new AbortController();
    const stream = await fetch(`${base}/v1/events/stream?types=typing`, { headers: { authorization: `Bearer ${h.key}` }, signal: controller.signal });
    const seen: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (m) => { seen.push(m); } });
    const pump = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
      } catch { /* aborted */ }
    })();
    const deadline = Date.now() + 5_000;
    // The subscription starts with the response; post until the signal arrives.
    while (seen.length === 0 && Date.now() < deadline) {
      expect((await fake.post(hook, 'typing-indicator', { display: true, guid: CHAT })).body).toMatchObject({ status: 'applied', conversation_id: conv });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    controller.abort();
    await pump;
    expect(seen[0]!.event).toBe('typing');
    expect(JSON.parse(seen[0]!.data)).toMatchObject({ type: 'typing', conversation_id: conv, state: 'started', direction: 'inbound' });
    expect((await fake.post(hook, 'typing-indicator', { display: false, guid: 'iMessage;-;+14155550999' })).body.status).toBe('ignored');
    expect((await events(conv)).some((e) => e.type === 'typing')).toBe(false);
  });
});

describe('replies, tapbacks, read receipts and typing to BlueBubbles', () => {
  let conv: string;
  let inboundGuid: string;
  let inboundId: string;

  beforeAll(async () => {
    const said = await personSays('Do you deliver to Oakland?', REPLY_PERSON);
    conv = said.res.body.conversation_id;
    inboundGuid = said.guid;
    inboundId = said.res.body.message_id;
  });

  it('sends a reply as text in the person\'s chat, with our message id as tempGuid and the password as a query parameter', async () => {
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Yes, every day before 6pm.' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const call = fake.to('POST', '/api/v1/message/text').at(-1)!;
    expect(call.query.password).toBe(fake.password);
    expect(call.body).toEqual({ chatGuid: REPLY_CHAT, tempGuid: res.body.message.id, message: 'Yes, every day before 6pm.', method: 'apple-script' });
    const sent = fake.sent.at(-1)!;
    const messages = (await h.request('GET', `/v1/conversations/${conv}/messages?order=desc&limit=1`)).body.data;
    expect(messages[0]).toMatchObject({ id: res.body.message.id, status: 'sent', provider_message_id: sent.guid });
    // The echo of our own message changes nothing: its guid is known already.
    const echo = await fake.post(hook, 'new-message', { ...sent });
    expect(echo.body.status).toBe('ignored');
  });

  it('follows delivered and read updates forward only, whatever order they arrive in', async () => {
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Your order is on its way.' });
    const sent = fake.sent.at(-1)!;
    const now = Date.now();
    const read = await fake.post(hook, 'updated-message', { ...sent, dateDelivered: now, dateRead: now + 1000 });
    expect(read.body.status).toBe('applied');
    const delivered = await fake.post(hook, 'updated-message', { ...sent, dateDelivered: now });
    expect(delivered.body.status).toBe('ignored');
    const statuses = (await events(conv)).filter((e) => e.type === 'message_status' && e.data.message_id === res.body.message.id).map((e) => e.data.status);
    expect(statuses).toEqual(['sent', 'read']);
    const message = (await h.request('GET', `/v1/conversations/${conv}/messages?order=desc&limit=1`)).body.data[0];
    expect(message).toMatchObject({ id: res.body.message.id, status: 'read' });
    // An update of the person's own message is not a receipt for ours.
    expect((await fake.post(hook, 'updated-message', { ...fake.message({ text: 'x', isFromMe: false, chatGuid: REPLY_CHAT, guid: inboundGuid }), dateRead: now })).body.status).toBe('ignored');
  });

  it('learns a sent message\'s guid from its webhook echo (tempGuid) when the answer did not carry it', async () => {
    fake.answerWithoutGuid = true;
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'See you at 5.' });
    fake.answerWithoutGuid = false;
    expect(res.status).toBe(201);
    const sent = fake.sent.at(-1)!;
    expect(sent.tempGuid).toBe(res.body.message.id);
    expect((await fake.post(hook, 'new-message', { ...sent })).body.status).toBe('applied');
    expect((await fake.post(hook, 'updated-message', { ...sent, dateDelivered: Date.now() })).body.status).toBe('applied');
    const message = (await h.request('GET', `/v1/conversations/${conv}/messages?order=desc&limit=1`)).body.data[0];
    expect(message).toMatchObject({ id: res.body.message.id, provider_message_id: sent.guid, status: 'delivered' });
  });

  it('sends a tapback on the person\'s message and its removal, and records both as outbound reactions by the caller', async () => {
    const love = await h.request('POST', `/v1/conversations/${conv}/reactions`, { message_id: inboundId, reaction: 'love' });
    expect(love.status, JSON.stringify(love.body)).toBe(201);
    expect(love.body).toMatchObject({ type: 'reaction', conversation_id: conv, data: { message_id: inboundId, reaction: 'love', removed: false, direction: 'outbound' } });
    expect(love.body.data.by.key_id).toMatch(/^key_/);
    const removed = await h.request('POST', `/v1/conversations/${conv}/reactions`, { message_id: inboundId, reaction: 'love', removed: true });
    expect(removed.status).toBe(201);
    expect(fake.to('POST', '/api/v1/message/react').slice(-2).map((r) => r.body)).toEqual([
      { chatGuid: REPLY_CHAT, selectedMessageGuid: inboundGuid, reaction: 'love' },
      { chatGuid: REPLY_CHAT, selectedMessageGuid: inboundGuid, reaction: '-love' },
    ]);
    const bad = await h.request('POST', `/v1/conversations/${conv}/reactions`, { message_id: inboundId, reaction: '🎉' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'validation_failed', param: 'reaction' });
    expect(bad.body.fix).toMatch(/love, like, dislike, laugh, emphasize, question/);
    const unknown = await h.request('POST', `/v1/conversations/${conv}/reactions`, { message_id: 'msg_01h455vb4pex5vsknk084sn02q', reaction: 'like' });
    expect(unknown.status).toBe(404);
    const reactions = (await events(conv)).filter((e) => e.type === 'reaction');
    expect(reactions.map((e) => [e.data.reaction, e.data.removed])).toEqual([['love', false], ['love', true]]);
  });

  it('sends the read receipt on every POST …/read, even when nothing was unread (Inkbox), and when GET ?mark_read=true marks messages read; and typing indicators', async () => {
    const before = fake.to('POST', /\/read$/).length;
    const read = await h.request('POST', `/v1/conversations/${conv}/read`);
    expect(read.status).toBe(200);
    expect(read.body.updated_count).toBeGreaterThan(0);
    expect(fake.to('POST', `/api/v1/chat/${REPLY_CHAT}/read`).length).toBe(before + 1);
    // Nothing left unread: `updated_count: 0`, and the read receipt is still sent.
    expect((await h.request('POST', `/v1/conversations/${conv}/read`)).body.updated_count).toBe(0);
    expect(fake.to('POST', `/api/v1/chat/${REPLY_CHAT}/read`).length).toBe(before + 2);
    expect((await h.request('POST', `/v1/conversations/${conv}/typing`, { state: 'started' })).status).toBe(202);
    expect((await h.request('POST', `/v1/conversations/${conv}/typing`, { state: 'stopped' })).status).toBe(202);
    expect(fake.to('POST', `/api/v1/chat/${REPLY_CHAT}/typing`).length).toBe(1);
    expect(fake.to('DELETE', `/api/v1/chat/${REPLY_CHAT}/typing`).length).toBe(1);
    // Reading the snapshot with mark_read=true sends it too.
    await personSays('Thanks!', REPLY_PERSON);
    expect((await h.request('GET', `/v1/conversations/${conv}?mark_read=true`)).body.unread_count).toBe(0);
    expect(fake.to('POST', /\/read$/).length).toBe(before + 3);
  });

  it('answers a read receipt the provider fails with 502 upstream_failed (retryable) and leaves the conversation unread; the retry sends it', async () => {
    await personSays('Are you open on Sunday?', REPLY_PERSON);
    const unread = (await h.request('GET', `/v1/conversations/${conv}`)).body.unread_count;
    expect(unread).toBeGreaterThan(0);
    fake.failNext(500);
    const failed = await h.request('POST', `/v1/conversations/${conv}/read`);
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({ code: 'upstream_failed', retryable: true });
    expect(failed.body.detail).toMatch(/read receipt/);
    expect((await h.request('GET', `/v1/conversations/${conv}`)).body.unread_count).toBe(unread);
    expect((await account()).status).toBe('active');
    const retried = await h.request('POST', `/v1/conversations/${conv}/read`);
    expect(retried.status).toBe(200);
    expect(retried.body.updated_count).toBe(unread);
  });

  it('records a reaction on an email message without sending anything', async () => {
    await identityWithMailbox(h, 'desk@shop.test', 'desk');
    const mail = await inbound(h, rawEmail({ from: 'ann@cust.test', to: 'desk@shop.test', messageId: 'r1@cust.test' }));
    const emailConv = mail.body.results[0].conversation_id;
    const messageId = mail.body.results[0].message_id;
    const calls = fake.requests.length;
    const res = await h.request('POST', `/v1/conversations/${emailConv}/reactions`, { message_id: messageId, reaction: '👍' });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ message_id: messageId, reaction: '👍', removed: false, direction: 'outbound' });
    expect(fake.requests.length).toBe(calls);
  });
});

describe('an unreachable or refusing BlueBubbles server', () => {
  let conv: string;
  let inboundId: string;
  beforeAll(async () => {
    const said = await personSays('Hello?', '+14155550177');
    conv = said.res.body.conversation_id;
    inboundId = said.res.body.message_id;
  });

  it('answers 502 upstream_failed (retryable) while the server is down, leaves the account active, and the retry with the same Idempotency-Key sends that message once it is back', async () => {
    const headers = { 'idempotency-key': 'down-then-up-1' };
    const sentBefore = fake.sent.length;
    await fake.stop();
    try {
      const down = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Are you still there?' }, headers);
      expect(down.status).toBe(502);
      expect(down.body).toMatchObject({ code: 'upstream_failed', retryable: true });
      expect(down.body.detail).toMatch(/unreachable/);
      // A transient failure is not a disconnection: the account stays as it was.
      expect(await account()).toMatchObject({ status: 'active', status_reason: null });
      expect((await h.request('GET', `/v1/conversations/${conv}`)).body.sender_disconnected).toBe(false);
      const failed = (await h.request('GET', `/v1/conversations/${conv}/messages?order=desc&limit=1`)).body.data[0];
      expect(failed).toMatchObject({ text: 'Are you still there?', status: 'failed' });
      // The retry while it is still down is the same 502, never a 409.
      const again = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Are you still there?' }, headers);
      expect(again.status).toBe(502);
      for (const [path, body] of [['reactions', { message_id: inboundId, reaction: 'like' }], ['typing', { state: 'started' }], ['read', undefined]] as const) {
        const res = await h.request('POST', `/v1/conversations/${conv}/${path}`, body);
        expect(res.status, path).toBe(502);
        expect(res.body, path).toMatchObject({ code: 'upstream_failed', retryable: true });
      }
      // The read receipt failed, so the read did not happen either.
      expect((await h.request('GET', `/v1/conversations/${conv}`)).body.unread_count).toBe(1);
    } finally {
      await fake.start();
    }
    const retry = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Are you still there?' }, headers);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.body.message).toMatchObject({ text: 'Are you still there?', status: 'sent' });
    expect(fake.sent.slice(sentBefore).map((m) => m.text)).toEqual(['Are you still there?']);
    const mine = (await h.request('GET', `/v1/conversations/${conv}/messages?limit=200`)).body.data.filter((m: any) => m.text === 'Are you still there?');
    expect(mine.map((m: any) => m.id)).toEqual([retry.body.message.id]);
  });

  it('treats a timeout and a BlueBubbles 503 as retryable failures that leave the account active; a send retried with its Idempotency-Key goes out once', async () => {
    fake.delay(1_500);
    const slow = await h.request('POST', `/v1/conversations/${conv}/reactions`, { message_id: inboundId, reaction: 'like' });
    fake.delay(0);
    expect(slow.status).toBe(502);
    expect(slow.body).toMatchObject({ code: 'upstream_failed', retryable: true });
    expect(slow.body.detail).toMatch(/400 ms/);
    expect((await account()).status).toBe('active');
    expect((await events(conv)).some((e) => e.type === 'reaction')).toBe(false);

    const headers = { 'idempotency-key': 'bb-503-retry' };
    const sentBefore = fake.sent.length;
    fake.failNext(503);
    const first = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Table for two at 8?' }, headers);
    expect(first.status).toBe(502);
    expect(first.body).toMatchObject({ code: 'upstream_failed', retryable: true });
    expect((await account()).status).toBe('active');
    const retry = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Table for two at 8?' }, headers);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    const replay = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Table for two at 8?' }, headers);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.message.id).toBe(retry.body.message.id);
    expect(fake.sent.slice(sentBefore).map((m) => m.text)).toEqual(['Table for two at 8?']);

    fake.failNext(503);
    const typing = await h.request('POST', `/v1/conversations/${conv}/typing`, { state: 'started' });
    expect(typing.status).toBe(502);
    expect((await account()).status).toBe('active');
  });

  it('never keeps a 409 sender_disconnected as the Idempotency-Key\'s answer: the retry after the account is reconnected sends', async () => {
    const headers = { 'idempotency-key': 'while-disconnected-1' };
    await h.request('PATCH', `/v1/channel_accounts/${accountId}`, { status: 'disconnected' });
    const refused = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Your table is ready.' }, headers);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('sender_disconnected');
    const stillRefused = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Your table is ready.' }, headers);
    expect(stillRefused.status).toBe(409);
    expect(stillRefused.headers['idempotent-replayed']).toBeUndefined();
    await h.request('PATCH', `/v1/channel_accounts/${accountId}`, { status: 'active' });
    const sent = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Your table is ready.' }, headers);
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    expect(sent.headers['idempotent-replayed']).toBeUndefined();
    expect(fake.sent.at(-1)).toMatchObject({ text: 'Your table is ready.' });
  });

  it('marks the account error on a wrong password (401), without a retry hint', async () => {
    await h.request('PATCH', `/v1/channel_accounts/${accountId}`, { config: { password: 'stale' } });
    const res = await h.request('POST', `/v1/conversations/${conv}/reactions`, { message_id: inboundId, reaction: 'like' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'upstream_failed', retryable: false });
    expect(await account()).toMatchObject({ status: 'error' });
    expect((await account()).status_reason).toMatch(/401/);
    await h.request('PATCH', `/v1/channel_accounts/${accountId}`, { status: 'active', config: { password: fake.password } });
  });
});

describe('a person a contact rule blocks', () => {
  it('refuses read receipts, typing indicators and tapbacks to them with 403 recipient_blocked, before anything reaches BlueBubbles or changes', async () => {
    const person = '+14155550166';
    const said = await personSays('Hi again', person);
    const conv = said.res.body.conversation_id;
    const rule = await h.request('POST', '/v1/contact_rules', { action: 'block', kind: 'address', pattern: person });
    expect(rule.status).toBe(201);
    const calls = fake.requests.length;
    const before = await countEvents();
    for (const [path, body] of [['read', undefined], ['typing', { state: 'started' }], ['typing', { state: 'stopped' }], ['reactions', { message_id: said.res.body.message_id, reaction: 'love' }]] as const) {
      const res = await h.request('POST', `/v1/conversations/${conv}/${path}`, body);
      expect(res.status, path).toBe(403);
      expect(res.body, path).toMatchObject({ code: 'recipient_blocked', retryable: false });
      expect(res.body.detail, path).toContain(rule.body.id);
    }
    expect(fake.requests.length).toBe(calls);
    expect(await countEvents()).toBe(before);
    expect((await h.request('GET', `/v1/conversations/${conv}`)).body.unread_count).toBe(1);
    // Clearing the count without telling the person stays possible, and a reading GET skips the receipt.
    expect((await h.request('GET', `/v1/conversations/${conv}?mark_read=true`)).body.unread_count).toBe(0);
    expect(fake.requests.length).toBe(calls);
    await h.request('DELETE', `/v1/contact_rules/${rule.body.id}`);
    expect((await h.request('POST', `/v1/conversations/${conv}/typing`, { state: 'started' })).status).toBe(202);
    expect(fake.to('POST', `/api/v1/chat/iMessage;-;${person}/typing`)).toHaveLength(1);
  });
});

describe('first messages, contacts and media on iMessage', () => {
  /** Uploads bytes through POST /v1/media (multipart, over real HTTP); @returns the media id. */
  async function upload(bytes: Buffer, type: string, filename: string): Promise<string> {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)], { type }), filename);
    const res = await fetch(`${base}/v1/media`, { method: 'POST', headers: { authorization: `Bearer ${h.key}` }, body: form });
    expect(res.status).toBe(201);
    return (await res.json()).id;
  }
  const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

  it('sends a first iMessage to a phone number or an email handle with POST /v1/messages (no subject), opening the conversation', async () => {
    const res = await h.request('POST', '/v1/messages', { channel: 'imessage', identity_id: identityId, to: '+1 (415) 555-0190', text: 'Your booking is confirmed.' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.message).toMatchObject({ channel: 'imessage', direction: 'outbound', status: 'sent', subject: null, to: [{ address: '+14155550190' }] });
    expect(fake.to('POST', '/api/v1/message/text').at(-1)!.body).toMatchObject({
      chatGuid: 'iMessage;-;+14155550190', tempGuid: res.body.message.id, message: 'Your booking is confirmed.',
    });
    const conv = (await h.request('GET', `/v1/conversations/${res.body.conversation_id}`)).body;
    expect(conv).toMatchObject({ channel: 'imessage', counterpart: '+14155550190', account_id: accountId, message_count: 1 });
    // The person answers in the same conversation.
    expect((await personSays('Thank you!', '+14155550190')).res.body.conversation_id).toBe(res.body.conversation_id);

    const email = await h.request('POST', '/v1/messages', { channel: 'imessage', identity_id: identityId, to: 'Noor@Example.com', text: 'Hello Noor' });
    expect(email.status, JSON.stringify(email.body)).toBe(201);
    expect(fake.to('POST', '/api/v1/message/text').at(-1)!.body.chatGuid).toBe('iMessage;-;noor@example.com');
  });

  it('names the iMessage fields in a first send\'s errors, never "subject"', async () => {
    const noText = await h.request('POST', '/v1/messages', { channel: 'imessage', identity_id: identityId, to: '+14155550190' });
    expect(noText.status).toBe(400);
    expect(noText.body).toMatchObject({ code: 'validation_failed', param: 'text' });
    const subject = await h.request('POST', '/v1/messages', { channel: 'imessage', identity_id: identityId, to: '+14155550190', text: 'x', subject: 'Hi' });
    expect(subject.status).toBe(400);
    expect(subject.body).toMatchObject({ code: 'validation_failed', param: 'subject' });
    const bad = await h.request('POST', '/v1/messages', { channel: 'imessage', identity_id: identityId, to: 'call me', text: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'validation_failed', param: 'to' });
    expect(bad.body.detail).toMatch(/phone number .* or an email address/);
  });

  it('sends uploads as iMessage attachments (BlueBubbles /message/attachment), each part tied to the message', async () => {
    const said = await personSays('Can you send the menu?', '+14155550192');
    const conv = said.res.body.conversation_id;
    const png = await upload(PNG, 'image/png', 'menu.png');
    const pdf = await upload(Buffer.from('%PDF-1.4 wine list'), 'application/pdf', 'wine.pdf');
    const reply = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Here you go.', media_ids: [png, pdf] });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body.message.media.map((m: any) => [m.id, m.filename])).toEqual([[png, 'menu.png'], [pdf, 'wine.pdf']]);
    const [first, second] = fake.attachments.slice(-2);
    expect(first).toMatchObject({ chatGuid: 'iMessage;-;+14155550192', name: 'menu.png', contentType: 'image/png', tempGuid: `${reply.body.message.id}.1` });
    expect(first!.bytes.equals(PNG)).toBe(true);
    expect(second).toMatchObject({ name: 'wine.pdf', contentType: 'application/pdf', tempGuid: `${reply.body.message.id}.2` });
    expect(second!.bytes.toString()).toBe('%PDF-1.4 wine list');
    expect(fake.to('POST', '/api/v1/message/attachment').at(-1)!.query.password).toBe(fake.password);
    expect(fake.to('POST', '/api/v1/message/text').at(-1)!.body).toMatchObject({ tempGuid: reply.body.message.id, message: 'Here you go.' });
    // A receipt of an attachment's own message is the message's.
    const applied = await fake.post(hook, 'updated-message', { ...fake.message({ text: '\uFFFC', isFromMe: true, chatGuid: 'iMessage;-;+14155550192', guid: first!.guid }), dateDelivered: Date.now() });
    expect(applied.body.status).toBe('applied');
    expect((await h.request('GET', `/v1/messages/${reply.body.message.id}`)).body.status).toBe('delivered');

    // A first send carries media too.
    const photo = await upload(PNG, 'image/png', 'table.png');
    const first2 = await h.request('POST', '/v1/messages', { channel: 'imessage', identity_id: identityId, to: '+14155550193', text: 'Your table', media_ids: [photo] });
    expect(first2.status, JSON.stringify(first2.body)).toBe(201);
    expect(fake.attachments.at(-1)).toMatchObject({ chatGuid: 'iMessage;-;+14155550193', name: 'table.png' });
  });

  it('keeps iMessage handles on contacts and opens a conversation for a contact on iMessage', async () => {
    const contact = await h.request('POST', '/v1/contacts', {
      display_name: 'Ines', addresses: [{ channel: 'imessage', address: '+44 20 7946 0958' }, { channel: 'imessage', address: 'Ines@Example.org' }],
    });
    expect(contact.status, JSON.stringify(contact.body)).toBe(201);
    expect(contact.body.addresses).toEqual([{ channel: 'imessage', address: '+442079460958' }, { channel: 'imessage', address: 'ines@example.org' }]);
    const opened = await h.request('POST', `/v1/contacts/${contact.body.id}/conversations`, { identity_id: identityId });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    expect(opened.body).toMatchObject({ channel: 'imessage', counterpart: '+442079460958', account_id: accountId, contact_id: contact.body.id, subject: null, message_count: 0 });
    const byEmail = await h.request('POST', `/v1/contacts/${contact.body.id}/conversations`, { identity_id: identityId, channel: 'imessage', address: 'INES@example.org' });
    expect(byEmail.status).toBe(201);
    expect(byEmail.body.counterpart).toBe('ines@example.org');
    expect((await h.request('POST', `/v1/contacts/${contact.body.id}/conversations`, { identity_id: identityId })).body.id).toBe(opened.body.id);
    const reply = await h.request('POST', `/v1/conversations/${opened.body.id}/messages`, { text: 'Welcome, Ines!' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(fake.to('POST', '/api/v1/message/text').at(-1)!.body).toMatchObject({ chatGuid: 'iMessage;-;+442079460958', message: 'Welcome, Ines!' });
    const subject = await h.request('POST', `/v1/contacts/${contact.body.id}/conversations`, { identity_id: identityId, subject: 'Hi' });
    expect(subject.body).toMatchObject({ code: 'validation_failed', param: 'subject' });
  });
});

describe('a released shared-line connection', () => {
  it('refuses reactions, read receipts and typing with 409 connection_released before changing anything', async () => {
    const said = await personSays('STOP', '+14155550188');
    const conv = said.res.body.conversation_id;
    // What the router appends when the person texts STOP on a shared line.
    await inOrgTransaction(h.store, h.orgId, async (tx) => {
      const row = (await findConversation(tx, h.orgId, conv))!;
      await appendEvents(tx, row, [{ type: 'connection_released', at: new Date().toISOString(), data: {
        connection_id: 'conn_01h455vb4pex5vsknk084sn02q', account_id: accountId, counterpart: '+14155550188', reason: 'stop', by: null,
      } }]);
    });
    const calls = fake.requests.length;
    const before = await countEvents();
    for (const [path, body] of [['reactions', { message_id: said.res.body.message_id, reaction: 'like' }], ['read', undefined], ['typing', { state: 'started' }]] as const) {
      const res = await h.request('POST', `/v1/conversations/${conv}/${path}`, body);
      expect(res.status, path).toBe(409);
      expect(res.body.code, path).toBe('connection_released');
    }
    expect((await h.request('GET', `/v1/conversations/${conv}`)).body.unread_count).toBe(1);
    expect(await countEvents()).toBe(before);
    expect(fake.requests.length).toBe(calls);
  });
});

describe('an agent on iMessage, through the HTTP API only', () => {
  it('gets an inbound iMessage, lists, reads, replies by conversation id, reacts and marks read; BlueBubbles receives all three', async () => {
    const person = 'Maya.Chen@Example.com';
    const incoming = fake.message({ text: 'Hi! Could you move my booking to Friday?', isFromMe: false, chatGuid: `iMessage;-;${person}` });
    const delivered = await fake.post(hook, 'new-message', incoming);
    expect(delivered.status).toBe(200);
    const chat = 'iMessage;-;maya.chen@example.com';

    const list = await h.request('GET', '/v1/conversations?channel=imessage&unread=true');
    expect(list.status).toBe(200);
    const summary = list.body.data.find((c: any) => c.counterpart === 'maya.chen@example.com');
    expect(summary).toMatchObject({ channel: 'imessage', unread_count: 1, latest_message: { text: 'Hi! Could you move my booking to Friday?', direction: 'inbound' } });

    const snapshot = (await h.request('GET', `/v1/conversations/${summary.id}`)).body;
    const inboundMessage = snapshot.events.find((e: any) => e.type === 'message' && e.data.direction === 'inbound');
    expect(inboundMessage.data.text).toBe('Hi! Could you move my booking to Friday?');

    const reply = await h.request('POST', `/v1/conversations/${summary.id}/messages`, { text: 'Done: Friday 7pm, table for two.' }, { 'idempotency-key': 'agent-reply-1' });
    expect(reply.status).toBe(201);
    const reaction = await h.request('POST', `/v1/conversations/${summary.id}/reactions`, { message_id: inboundMessage.data.message_id, reaction: 'like' });
    expect(reaction.status).toBe(201);
    const read = await h.request('POST', `/v1/conversations/${summary.id}/read`);
    expect(read.body).toMatchObject({ updated_count: 1, conversation: { unread_count: 0 } });

    expect(fake.to('POST', '/api/v1/message/text').at(-1)!.body).toMatchObject({ chatGuid: chat, message: 'Done: Friday 7pm, table for two.' });
    expect(fake.to('POST', '/api/v1/message/react').at(-1)!.body).toEqual({ chatGuid: chat, selectedMessageGuid: incoming.guid, reaction: 'like' });
    expect(fake.to('POST', `/api/v1/chat/${chat}/read`).length).toBe(1);

    const timeline = (await events(summary.id)).map((e) => e.type);
    expect(timeline).toEqual(['message', 'message', 'message_status', 'reaction', 'read']);
  });
});
