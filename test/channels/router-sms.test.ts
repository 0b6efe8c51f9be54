/**
 * The router scenario over the wire (issue 6): a person texts a shared SMS line through
 * Twilio's signed webhooks; they connect to an identity by its routing code, converse,
 * text STOP, the agent's send is refused with 409 `connection_released` (nothing reaches
 * Twilio), they reconnect with the code and converse again. Our server listens on a real
 * port; the fake Twilio server speaks the Messages API and signs its webhooks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, harness, type Harness } from '../helpers.js';
import { FakeTwilio } from './fake-twilio.js';

const LINE = '+14155550199';
const PERSON = '+14155550142';

let h: Harness;
let twilio: FakeTwilio;
let publicUrl: string;
let lineId: string;
let salesId: string;

async function textIn(body: string, from = PERSON) {
  const res = await twilio.post(`${publicUrl}/v1/inbound/twilio/${lineId}/messages`, twilio.incomingFields({ From: from, To: LINE, Body: body }));
  expect(res.status, res.text).toBe(200);
}

beforeAll(async () => {
  twilio = await FakeTwilio.start();
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  h = await harness({ publicUrl });
  await h.app.listen({ port, host: '127.0.0.1' });
  const frontDesk = (await h.request('POST', '/v1/identities', { handle: 'front-desk' })).body.id;
  salesId = (await h.request('POST', '/v1/identities', { handle: 'sales', routing_code: 'SALES' })).body.id;
  const line = await h.request('POST', '/v1/channel_accounts', {
    identity_id: frontDesk, channel: 'sms', address: LINE, pool: true, config: twilio.accountConfig(),
  });
  expect(line.status, JSON.stringify(line.body)).toBe(201);
  lineId = line.body.id;
});
afterAll(async () => {
  await h?.close();
  await twilio?.close();
});

describe('a shared SMS line, over Twilio\'s wire format', () => {
  it('connects by code, converses, releases on STOP (409 on send), reconnects and converses again', async () => {
    await textIn('sales: do you ship to Canada?');
    let list = await h.request('GET', `/v1/conversations?channel=sms&identity_id=${salesId}`);
    expect(list.body.data).toHaveLength(1);
    const conv = list.body.data[0];
    expect(conv).toMatchObject({ counterpart: PERSON, account_id: lineId, connection_status: 'active', message_count: 1 });
    const connections = (await h.request('GET', `/v1/connections?identity_id=${salesId}`)).body.data;
    expect(connections).toMatchObject([{ counterpart: PERSON, status: 'active', conversation_id: conv.id }]);
    // The conversation names its connection (Inkbox `assignment_id`), in lists and in the snapshot.
    expect(conv.connection_id).toBe(connections[0].id);
    expect((await h.request('GET', `/v1/conversations/${conv.id}`)).body.connection_id).toBe(connections[0].id);

    // Converse: the reply goes out from the line to the person; their answer lands with sales.
    expect((await h.request('POST', `/v1/conversations/${conv.id}/messages`, { text: 'We do, 3-5 days.' })).status).toBe(201);
    expect(twilio.accepted.at(-1)).toMatchObject({ from: LINE, to: PERSON, body: 'We do, 3-5 days.' });
    await textIn('Great, thanks');
    expect((await h.request('GET', `/v1/conversations/${conv.id}`)).body).toMatchObject({ message_count: 3, connection_status: 'active' });

    // STOP releases; a send is refused and nothing reaches Twilio.
    await textIn('STOP');
    const released = (await h.request('GET', `/v1/conversations/${conv.id}`)).body;
    expect(released.connection_status).toBe('released');
    expect(released.connection_id).toBe(connections[0].id);
    expect(released.events.map((e: { type: string }) => e.type).slice(-2)).toEqual(['message', 'connection_released']);
    const sentBefore = twilio.accepted.length;
    const refused = await h.request('POST', `/v1/conversations/${conv.id}/messages`, { text: 'Anything else?' });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('connection_released');
    expect(twilio.accepted).toHaveLength(sentBefore);

    // Texting the code again reconnects, in the same conversation.
    await textIn('SALES I am back');
    list = await h.request('GET', `/v1/conversations?channel=sms&identity_id=${salesId}`);
    expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([conv.id]);
    expect(list.body.data[0].connection_status).toBe('active');
    // A new connection: the conversation carries the new one's id.
    const current = (await h.request('GET', `/v1/connections?identity_id=${salesId}&status=active`)).body.data;
    expect(current).toHaveLength(1);
    expect(current[0].id).not.toBe(connections[0].id);
    expect(list.body.data[0].connection_id).toBe(current[0].id);
    expect((await h.request('POST', `/v1/conversations/${conv.id}/messages`, { text: 'Welcome back!' })).status).toBe(201);
    expect(twilio.accepted.at(-1)).toMatchObject({ from: LINE, to: PERSON, body: 'Welcome back!' });
    expect((await h.request('GET', `/v1/connections?identity_id=${salesId}`)).body.data.map((c: { status: string }) => c.status).sort())
      .toEqual(['active', 'released']);
  });

  it('has no connection id on a conversation without a connection', async () => {
    await textIn('hello, who is this?', '+14155550999');
    const list = (await h.request('GET', '/v1/conversations?channel=sms&limit=200')).body.data as { counterpart: string; connection_id: string | null; connection_status: string | null }[];
    expect(list.find((c) => c.counterpart === '+14155550999')).toMatchObject({ connection_status: null, connection_id: null });
  });
});
