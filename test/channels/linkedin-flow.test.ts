/**
 * One agent flow on the LinkedIn channel (through a provider speaking the generic HTTP
 * channel), over real HTTP only: the provider posts a signed inbound message; the agent
 * lists LinkedIn conversations, reads the one that arrived, uploads an image and replies
 * by conversation id with it; the provider receives the signed reply and fetches the
 * image from the signed media URL, byte for byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, harness, type Harness } from '../helpers.js';
import { PNG, Provider, signedPost } from './http-provider.js';

let h: Harness;
let provider: Provider;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  h = await harness({ publicUrl: base });
  await h.app.listen({ port, host: '127.0.0.1' });
  provider = await Provider.start();
});
afterAll(async () => {
  await h?.close();
  await provider?.close();
});

/** The agent's calls: JSON over HTTP with its API key. */
async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${h.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe('an agent on LinkedIn, through the HTTP API only', () => {
  it('receives a message, reads it, and replies with an image the provider can fetch', async () => {
    // Setup: an identity with a LinkedIn account bridged by the provider.
    const identity = await api('POST', '/v1/identities', { handle: 'recruiter' });
    const account = await api('POST', '/v1/channel_accounts', {
      identity_id: identity.body.id, channel: 'linkedin', address: 'urn:li:person:recruiter', display_name: 'Rita Recruiter',
      config: { outbound_url: `${provider.url}/linkedin/send` },
    });
    expect(account.status, JSON.stringify(account.body)).toBe(201);
    provider.secret = account.body.secret;

    // The provider posts a signed inbound message.
    const signed = signedPost(provider.secret, {
      type: 'message', id: 'li-msg-1', from: { address: 'urn:li:person:candidate', name: 'Casey Candidate' }, text: 'Is the role remote?',
    });
    const delivered = await fetch(`${base}/v1/inbound/http/${account.body.id}`, { method: 'POST', headers: signed.headers, body: signed.body });
    expect(delivered.status).toBe(200);

    // The agent lists LinkedIn conversations and reads the new one.
    const list = await api('GET', '/v1/conversations?channel=linkedin');
    expect(list.body.data).toHaveLength(1);
    const conv = list.body.data[0];
    expect(conv).toMatchObject({ channel: 'linkedin', counterpart: 'urn:li:person:candidate', unread_count: 1 });
    const snapshot = await api('GET', `/v1/conversations/${conv.id}`);
    const inbound = snapshot.body.events.find((e: any) => e.type === 'message');
    expect(inbound.data).toMatchObject({ direction: 'inbound', text: 'Is the role remote?', from: { address: 'urn:li:person:candidate', name: 'Casey Candidate' } });

    // It uploads an image and replies by conversation id with it.
    const form = new FormData();
    form.append('file', new Blob([PNG], { type: 'image/png' }), 'office.png');
    const uploaded = await fetch(`${base}/v1/media`, { method: 'POST', headers: { authorization: `Bearer ${h.key}` }, body: form });
    expect(uploaded.status).toBe(201);
    const media = await uploaded.json();
    const reply = await api('POST', `/v1/conversations/${conv.id}/messages`, { text: 'Yes, fully remote. Here is our office anyway.', media_ids: [media.id] });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body.message).toMatchObject({ status: 'sent', channel: 'linkedin', media: [{ id: media.id, content_type: 'image/png', filename: 'office.png' }] });

    // The provider got the signed reply, and the image behind its media URL.
    const got = provider.requests.at(-1)!;
    expect(got.verified).toBe(true);
    expect(got.body).toMatchObject({
      type: 'message', id: reply.body.message.id, conversation_id: conv.id, to: 'urn:li:person:candidate', from: 'urn:li:person:recruiter',
      text: 'Yes, fully remote. Here is our office anyway.',
      media: [{ id: media.id, content_type: 'image/png', filename: 'office.png', size_bytes: PNG.length }],
    });
    const url: string = got.body.media[0].url;
    expect(url.startsWith(`${base}/media/${media.id}?`)).toBe(true);
    const image = await fetch(url);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await image.arrayBuffer()).equals(PNG)).toBe(true);

    // The provider reports it read; the agent sees it.
    const read = signedPost(provider.secret, { type: 'status', message_id: provider.lastId, status: 'read' });
    await fetch(`${base}/v1/inbound/http/${account.body.id}`, { method: 'POST', headers: read.headers, body: read.body });
    expect((await api('GET', `/v1/messages/${reply.body.message.id}`)).body.status).toBe('read');
  });
});

describe('first messages and contacts on LinkedIn', () => {
  it('sends a first LinkedIn message to a profile id with POST /v1/messages, and opens a conversation for a contact by LinkedIn id', async () => {
    const identity = await api('POST', '/v1/identities', { handle: 'sourcer' });
    const account = await api('POST', '/v1/channel_accounts', {
      identity_id: identity.body.id, channel: 'linkedin', address: 'urn:li:person:sourcer', config: { outbound_url: `${provider.url}/linkedin/send` },
    });
    expect(account.status, JSON.stringify(account.body)).toBe(201);
    provider.secret = account.body.secret;

    // A profile id is case-sensitive: kept exactly as written.
    const first = await api('POST', '/v1/messages', { channel: 'linkedin', identity_id: identity.body.id, to: 'ACoAAB1xYz', text: 'Hi Dana, are you open to a chat?' });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body.message).toMatchObject({ channel: 'linkedin', status: 'sent', subject: null, to: [{ address: 'ACoAAB1xYz' }] });
    expect(provider.requests.at(-1)!.body).toMatchObject({ type: 'message', id: first.body.message.id, to: 'ACoAAB1xYz', text: 'Hi Dana, are you open to a chat?' });
    expect((await api('GET', `/v1/conversations/${first.body.conversation_id}`)).body).toMatchObject({ channel: 'linkedin', counterpart: 'ACoAAB1xYz' });
    const missing = await api('POST', '/v1/messages', { channel: 'linkedin', identity_id: identity.body.id, text: 'x' });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ code: 'validation_failed', param: 'to' });

    const contact = await api('POST', '/v1/contacts', { display_name: 'Lee', headline: 'Staff engineer', addresses: [{ channel: 'linkedin', address: 'urn:li:person:LeeK' }] });
    expect(contact.status, JSON.stringify(contact.body)).toBe(201);
    expect(contact.body.addresses).toEqual([{ channel: 'linkedin', address: 'urn:li:person:LeeK' }]);
    const opened = await api('POST', `/v1/contacts/${contact.body.id}/conversations`, { identity_id: identity.body.id });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    expect(opened.body).toMatchObject({ channel: 'linkedin', counterpart: 'urn:li:person:LeeK', account_id: account.body.id, contact_id: contact.body.id });
    const reply = await api('POST', `/v1/conversations/${opened.body.id}/messages`, { text: 'Hello Lee' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(provider.requests.at(-1)!.body).toMatchObject({ to: 'urn:li:person:LeeK', conversation_id: opened.body.id, text: 'Hello Lee' });
    // The person's reply through the provider lands in that conversation, with the contact.
    const signed = signedPost(provider.secret, { type: 'message', id: 'li-lee-1', from: { address: 'urn:li:person:LeeK', name: 'Lee' }, text: 'Sure!' });
    const delivered = await fetch(`${base}/v1/inbound/http/${account.body.id}`, { method: 'POST', headers: signed.headers, body: signed.body });
    expect((await delivered.json()).conversation_id).toBe(opened.body.id);
  });
});
