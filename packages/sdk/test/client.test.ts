/**
 * The client against a real server: reply by conversation id and read it back, the
 * inbox actions, and the server's problem details surfacing as SwitchboardError fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadRequestError, NotFoundError, SwitchboardError, AuthenticationError, Switchboard } from '../src/index.js';
import { identityWithMailbox, receiveMail, sdkServer, type SdkServer } from './fixture.js';

let s: SdkServer;
let conversationId: string;

beforeAll(async () => {
  s = await sdkServer();
  await identityWithMailbox(s.sb, 'support@client.test');
  conversationId = await receiveMail(s.sb, 'ada@customer.test', 'support@client.test', 'Order 42');
});
afterAll(async () => { await s.close(); });

describe('conversations', () => {
  it('replies by conversation id and reads the reply back in the snapshot', async () => {
    const sent = await s.sb.conversations.reply(conversationId, { text: 'Thanks, on it.' });
    expect(sent.conversation_id).toBe(conversationId);
    expect(sent.message).toMatchObject({ direction: 'outbound', text: 'Thanks, on it.', subject: 'Re: Order 42' });

    const snapshot = await s.sb.conversations.get(conversationId);
    expect(snapshot.id).toBe(conversationId);
    const messages = snapshot.events.filter((e) => e.type === 'message');
    expect(messages.map((m) => (m.data as { direction: string }).direction)).toEqual(['inbound', 'outbound']);
    expect(snapshot.latest_message?.text).toContain('Thanks, on it.');
  });

  it('marks read, stars, labels and notes through the resources', async () => {
    const read = await s.sb.conversations.markRead(conversationId);
    expect(read.conversation.unread_count).toBe(0);
    expect((await s.sb.conversations.star(conversationId)).starred).toBe(true);
    expect((await s.sb.conversations.addLabels(conversationId, ['vip'])).labels).toContain('vip');
    expect((await s.sb.conversations.removeLabels(conversationId, ['vip'])).labels).not.toContain('vip');
    const note = await s.sb.conversations.addNote(conversationId, { text: 'Prefers phone.' });
    expect(note.text).toBe('Prefers phone.');
    const unread = await s.sb.conversations.list({ unread: true }).toArray();
    expect(unread.map((c) => c.id)).not.toContain(conversationId);
  });

  it('sends a first message, which opens a conversation', async () => {
    const identity = (await s.sb.identities.list().toArray())[0]!;
    const sent = await s.sb.messages.send({ identity_id: identity.id, channel: 'email', to: ['grace@customer.test'], subject: 'Welcome', text: 'Hello Grace.' });
    expect((await s.sb.messages.get(sent.message.id)).text).toBe('Hello Grace.');
    expect(await s.sb.messages.raw(sent.message.id)).toMatch(/^Subject: Welcome\r?$/m);
  });
});

describe('errors', () => {
  it('throws NotFoundError with the server\'s code, detail and fix for an unknown id', async () => {
    const err = await s.sb.conversations.get('conv_01h455vb4pex5vsknk084sn02q').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect(err).toMatchObject({ status: 404, code: 'not_found', retryable: false, param: null });
    const e = err as SwitchboardError;
    expect(e.detail).toMatch(/conversation/i);
    expect(e.fix).toMatch(/\S/);
    expect(e.problem?.type).toBe('urn:switchboard:error:not_found');
  });

  it('throws BadRequestError naming the parameter of a 400', async () => {
    const err = await s.sb.conversations.list({ limit: 1000 }).page().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({ status: 400, code: 'validation_failed', param: 'limit', retryable: false });
    expect((err as SwitchboardError).errors.map((x) => x.param)).toContain('limit');
  });

  it('throws AuthenticationError for a bad key, without retrying it', async () => {
    let attempts = 0;
    const sb = new Switchboard({ baseUrl: s.baseUrl, apiKey: 'sb_key_wrong', fetch: (input, init) => { attempts += 1; return fetch(input, init); } });
    const err = await sb.identities.list().page().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err).toMatchObject({ status: 401, code: 'unauthenticated' });
    expect(attempts).toBe(1);
  });
});
