/**
 * The channel core with an in-process adapter: inbound through services/ingest-channel.ts
 * lands in one conversation per person, deduplicated by provider id; a reply by
 * conversation id reaches the adapter; an unhealthy account refuses with 409
 * `sender_disconnected`; a provider failure is a 502 `upstream_failed` and the message
 * stays on the timeline as `failed`; late status callbacks never move a status back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError, type ChannelAdapter, type OutboundMessage } from '../../src/channels/adapter.js';
import { applyProviderStatus, receiveChannelMessage } from '../../src/services/ingest-channel.js';
import { getChannelAccount } from '../../src/services/channel-accounts.js';
import { harness, type Harness } from '../helpers.js';

const sent: OutboundMessage[] = [];
let failNext: UpstreamError | null = null;
const adapter: ChannelAdapter = {
  channel: 'sms',
  supportsMedia: true,
  async send(message) {
    if (failNext) {
      const err = failNext;
      failNext = null;
      throw err;
    }
    sent.push(message);
    return { providerMessageId: `SM${sent.length}`, status: 'queued' };
  },
};

let h: Harness;
let identityId: string;
let accountId: string;

beforeAll(async () => {
  h = await harness({}, { channels: { sms: adapter } });
  identityId = (await h.request('POST', '/v1/identities', { handle: 'texts' })).body.id;
  const res = await h.request('POST', '/v1/channel_accounts', { identity_id: identityId, channel: 'sms', address: '+1 (415) 555-0100', config: { auth_token: 'tok' } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.address).toBe('+14155550100');
  expect(res.body.config).toEqual({ auth_token: true });
  accountId = res.body.id;
});
afterAll(async () => h?.close());

const account = () => getChannelAccount(h.store.db, h.orgId, accountId);

describe('the channel core', () => {
  let conversationId: string;

  it('files inbound messages from one person in one conversation, once per provider id', async () => {
    const first = await receiveChannelMessage(h.store, await account(), { from: '+14155550123', text: 'Hi, is my order out?', providerMessageId: 'SMin1' });
    const again = await receiveChannelMessage(h.store, await account(), { from: '+14155550123', text: 'Hi, is my order out?', providerMessageId: 'SMin1' });
    const second = await receiveChannelMessage(h.store, await account(), { from: '+14155550123', text: 'Order 42', providerMessageId: 'SMin2' });
    expect(first.status).toBe('stored');
    expect(again).toEqual({ status: 'duplicate', conversationId: first.conversationId });
    expect(second.conversationId).toBe(first.conversationId);
    conversationId = first.conversationId;
    const list = await h.request('GET', '/v1/conversations?channel=sms');
    const conv = list.body.data.find((c: { id: string }) => c.id === conversationId);
    expect(conv).toMatchObject({ channel: 'sms', counterpart: '+14155550123', message_count: 2, unread_count: 2, connection_status: null });
  });

  it('sends a reply by conversation id through the adapter, then follows status callbacks forward only', async () => {
    const res = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'Yes, it shipped today.' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(sent.at(-1)).toMatchObject({ to: '+14155550123', text: 'Yes, it shipped today.', conversationId });
    const acct = await account();
    expect(await applyProviderStatus(h.store, acct, 'SM1', 'delivered', null)).toBe(true);
    expect(await applyProviderStatus(h.store, acct, 'SM1', 'sent', null)).toBe(false);
    const messages = (await h.request('GET', `/v1/conversations/${conversationId}/messages?order=desc&limit=1`)).body.data;
    expect(messages[0]).toMatchObject({ direction: 'outbound', status: 'delivered', channel: 'sms' });
  });

  it('answers a provider failure with 502 upstream_failed and keeps the message as failed', async () => {
    failNext = new UpstreamError('HTTP 503', { retryable: true, status: 503 });
    const res = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'Are you there?' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 'upstream_failed', retryable: true });
    const messages = (await h.request('GET', `/v1/conversations/${conversationId}/messages?order=desc&limit=1`)).body.data;
    expect(messages[0]).toMatchObject({ text: 'Are you there?', status: 'failed' });
  });

  it('refuses sends through an unhealthy account with 409 sender_disconnected until it is reconnected', async () => {
    failNext = new UpstreamError('HTTP 401: authenticate', { retryable: false, status: 401, accountStatus: 'error' });
    await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'One more thing' });
    const health = await h.request('GET', `/v1/channel_accounts/${accountId}`);
    expect(health.body).toMatchObject({ status: 'error', status_reason: 'HTTP 401: authenticate' });
    const refused = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'Hello?' });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('sender_disconnected');
    expect(refused.body.fix).toMatch(/reconnect/i);
    expect((await h.request('PATCH', `/v1/channel_accounts/${accountId}`, { status: 'active' })).body.status_reason).toBeNull();
    expect((await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'Hello?' })).status).toBe(201);
  });
});
