/**
 * examples/support-agent against a real server (test/helpers.ts `liveServer`, on the
 * project's store): mail arrives over `POST /v1/inbound/email`, the agent answers it by
 * conversation id and marks the conversation read, and leaves an auto-reply alone.
 */
import { Switchboard } from '@switchboard/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cannedAnswer, runSupportAgent } from '../../examples/support-agent/agent.js';
import { liveServer, rawEmail } from '../helpers.js';

let live: Awaited<ReturnType<typeof liveServer>>;
let sb: Switchboard;

beforeAll(async () => {
  live = await liveServer({ rateLimitSends: 0 });
  sb = new Switchboard({ baseUrl: `http://127.0.0.1:${live.server.port}`, apiKey: live.server.firstRun!.apiKey });
  const identity = await sb.identities.create({ handle: 'support' });
  await sb.mailboxes.create({ identity_id: identity.id, address: 'support@shop.test' });
});
afterAll(async () => { await live?.close(); });

/** Delivers mail to support@shop.test; returns its conversation. */
async function deliver(from: string, subject: string, body: string, extraHeaders: string[] = []): Promise<string> {
  const { results } = await sb.inbound.email(rawEmail({ from, to: 'support@shop.test', subject, messageId: `${crypto.randomUUID()}@customer.test`, body, extraHeaders }));
  return results[0]!.conversation_id!;
}

describe('examples/support-agent', () => {
  it('answers an inbound message by conversation id and marks the conversation read, skipping auto-replies', async () => {
    const head = (await sb.events.list().toArray()).at(-1)?.seq ?? 0;
    const agent = runSupportAgent(sb, { after: head, maxMessages: 1, signal: AbortSignal.timeout(30_000) });

    const autoReply = await deliver('Bot <noreply@vendor.test>', 'Out of office', 'I am away.', ['Auto-Submitted: auto-replied']);
    const conversationId = await deliver('Ada Lovelace <ada@customer.test>', 'Order 42', 'Where is my order 42?');

    const outcome = await agent;
    expect(outcome.answered).toBe(1);

    const snapshot = await sb.conversations.get(conversationId);
    expect(snapshot.unread_count).toBe(0);
    const messages = snapshot.events.flatMap((e) => (e.type === 'message' ? [e.data] : []));
    expect(messages.map((m) => m.direction)).toEqual(['inbound', 'outbound']);
    expect(messages[1]).toMatchObject({ subject: 'Re: Order 42', to: [expect.objectContaining({ address: 'ada@customer.test' })] });
    expect(messages[1]!.text).toContain('Hi Ada');
    expect(snapshot.events.map((e) => e.type)).toContain('read');

    const skipped = await sb.conversations.get(autoReply);
    expect(skipped.unread_count).toBe(1);
    expect(skipped.events.filter((e) => e.type === 'message')).toHaveLength(1);
  });

  it('writes its placeholder answer from the sender\'s name and the subject', () => {
    const answer = cannedAnswer({
      conversation: { subject: 'Refund', contact: null } as never,
      message: { from: { address: 'grace@customer.test', name: 'Grace Hopper' } } as never,
    });
    expect(answer).toMatch(/^Hi Grace,/);
    expect(answer).toContain('"Refund"');
  });
});
