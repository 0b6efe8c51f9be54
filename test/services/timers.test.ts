/**
 * Durable timers with a manual clock: the no-reply timer a send arms fires once after
 * its time (and not when a reply came first); SLA deadlines start on inbound mail,
 * breach once, drive `overdue`, its filter and count, and clear on a reply; imported
 * history arms nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { fireDueTimers } from '../../src/services/timers.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

const MINUTE = 60_000;
let h: Harness;
let clock: ManualClock;
let n = 0;
beforeEach(async () => {
  clock = new ManualClock(Date.parse('2026-03-01T09:00:00.000Z'));
  h = await harness({}, { clock });
  await identityWithMailbox(h, 'desk@shop.test', 'desk');
});
afterEach(async () => { await h.close(); });

/** New inbound mail from `from` (a new conversation unless `inReplyTo` names one's message). */
async function receive(from = 'ann@x.test', inReplyTo?: string): Promise<{ conv: string; messageId: string }> {
  const messageId = `m${++n}@x.test`;
  const res = await inbound(h, rawEmail({ from, to: 'desk@shop.test', messageId, inReplyTo }));
  expect(res.status).toBe(201);
  return { conv: res.body.results[0].conversation_id, messageId };
}
const conversation = async (id: string) => (await h.request('GET', `/v1/conversations/${id}`)).body;
const eventsOf = async (id: string, type: string) =>
  (await h.request('GET', `/v1/conversations/${id}/events?types=${type}&limit=200`)).body.data;
const reply = (conv: string, body: Record<string, unknown> = {}) =>
  h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'On it.', ...body });
/** The Message-ID of a conversation's latest outbound message (to reply to it). */
const lastSentId = async (conv: string) =>
  (await eventsOf(conv, 'message')).filter((e: any) => e.data.direction === 'outbound').at(-1).data.headers.message_id;

describe('no-reply timer', () => {
  it('fires once, after its time, with how long it waited', async () => {
    const { conv } = await receive();
    const sent = await reply(conv, { no_reply_after: 30 * MINUTE });
    expect(sent.status).toBe(202);
    const due = new Date(clock.now() + 30 * MINUTE).toISOString();
    expect((await conversation(conv)).no_reply_at).toBe(due);

    clock.advance(30 * MINUTE - 1);
    expect(await fireDueTimers(h.store, clock)).toBe(0);
    expect(await eventsOf(conv, 'no_reply_expired')).toEqual([]);

    clock.advance(5 * MINUTE + 1);
    expect(await fireDueTimers(h.store, clock)).toBe(1);
    expect(await fireDueTimers(h.store, clock)).toBe(0);
    clock.advance(24 * 60 * MINUTE);
    expect(await fireDueTimers(h.store, clock)).toBe(0);

    const fired = await eventsOf(conv, 'no_reply_expired');
    expect(fired).toHaveLength(1);
    expect(fired[0].data).toEqual({ waited_ms: 35 * MINUTE, no_reply_at: due });
    const after = await conversation(conv);
    expect(after.no_reply_at).toBeNull();
    expect(after.last_no_reply_at).toBe(fired[0].at);
    expect(fired[0].at).toBe(new Date(Date.parse(due) + 5 * MINUTE).toISOString());
  });

  it('is cancelled by an inbound reply, and a later send arms a new one', async () => {
    const { conv } = await receive('bob@x.test');
    await reply(conv, { no_reply_after: 10 * MINUTE });
    clock.advance(MINUTE);
    await receive('bob@x.test', await lastSentId(conv));
    expect((await conversation(conv)).no_reply_at).toBeNull();
    clock.advance(60 * MINUTE);
    expect(await fireDueTimers(h.store, clock)).toBe(0);

    await reply(conv, { no_reply_after: 10 * MINUTE });
    await reply(conv); // a send without the field leaves the armed timer alone
    clock.advance(10 * MINUTE);
    expect(await fireDueTimers(h.store, clock)).toBe(1);
    expect(await eventsOf(conv, 'no_reply_expired')).toHaveLength(1);
  });

  it('rejects a no_reply_after that is not a positive number of ms', async () => {
    const { conv } = await receive();
    for (const bad of [0, -5, 1.5, '60000', 400 * 24 * 60 * MINUTE]) {
      const res = await reply(conv, { no_reply_after: bad });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
    expect(await eventsOf(conv, 'message')).toHaveLength(1);
  });
});

describe('SLA', () => {
  it('has no targets until one is set, and validates the policy', async () => {
    expect((await h.request('GET', '/v1/sla')).body).toEqual({ first_response_ms: null, next_response_ms: null, updated_at: null });
    for (const bad of [{ first_response_ms: 0, next_response_ms: null }, { first_response_ms: 5 }, { first_response_ms: 'soon', next_response_ms: null }]) {
      const res = await h.request('PUT', '/v1/sla', bad);
      expect(res.status).toBe(400);
    }
    const put = await h.request('PUT', '/v1/sla', { first_response_ms: 60 * MINUTE, next_response_ms: null });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ first_response_ms: 60 * MINUTE, next_response_ms: null, updated_at: new Date(clock.now()).toISOString() });
  });

  it('starts on inbound mail, breaches once, is counted and filtered, and clears on a reply', async () => {
    await h.request('PUT', '/v1/sla', { first_response_ms: 60 * MINUTE, next_response_ms: 30 * MINUTE });
    const { conv } = await receive('cat@x.test');
    const { conv: calm } = await receive('dan@x.test');
    const due = new Date(clock.now() + 60 * MINUTE).toISOString();
    expect(await conversation(conv)).toMatchObject({ sla_due_at: due, overdue: false });

    clock.advance(20 * MINUTE);
    await receive('cat@x.test', `m${n - 1}@x.test`); // more mail does not move the deadline
    expect((await conversation(conv)).sla_due_at).toBe(due);
    await reply(calm); // answered in time: no deadline
    expect(await conversation(calm)).toMatchObject({ sla_due_at: null, overdue: false });

    clock.advance(41 * MINUTE);
    expect(await fireDueTimers(h.store, clock)).toBe(1);
    expect(await fireDueTimers(h.store, clock)).toBe(0);
    const breached = await eventsOf(conv, 'sla_breached');
    expect(breached.map((e: any) => e.data)).toEqual([{ target: 'first_response', due_at: due }]);
    expect(await conversation(conv)).toMatchObject({ overdue: true, sla_due_at: due });
    expect((await h.request('GET', '/v1/conversations/overdue/count')).body).toEqual({ count: 1 });
    expect((await h.request('GET', '/v1/conversations?overdue=true')).body.data.map((c: any) => c.id)).toEqual([conv]);
    expect((await h.request('GET', '/v1/conversations?overdue=false')).body.data.map((c: any) => c.id)).toEqual([calm]);

    await reply(conv);
    expect(await conversation(conv)).toMatchObject({ overdue: false, sla_due_at: null });
    expect((await h.request('GET', '/v1/conversations/overdue/count')).body).toEqual({ count: 0 });

    // the next inbound message starts the next-response clock
    clock.advance(MINUTE);
    await receive('cat@x.test', await lastSentId(conv));
    expect((await conversation(conv)).sla_due_at).toBe(new Date(clock.now() + 30 * MINUTE).toISOString());
    clock.advance(30 * MINUTE);
    expect(await fireDueTimers(h.store, clock)).toBe(1);
    expect((await eventsOf(conv, 'sla_breached')).map((e: any) => e.data.target)).toEqual(['first_response', 'next_response']);
  });

  it('counts per identity and hides nothing of another organization', async () => {
    await h.request('PUT', '/v1/sla', { first_response_ms: MINUTE, next_response_ms: null });
    const { conv } = await receive();
    clock.advance(2 * MINUTE);
    await fireDueTimers(h.store, clock);
    const { identityId } = await identityWithMailbox(h, 'other@shop.test', 'other');
    expect((await h.request('GET', `/v1/conversations/overdue/count?identity_id=${identityId}`)).body).toEqual({ count: 0 });
    expect((await conversation(conv)).overdue).toBe(true);
    const foreign = await h.otherOrg();
    const res = await h.request('GET', '/v1/conversations/overdue/count', undefined, { authorization: `Bearer ${foreign}` });
    expect(res.body).toEqual({ count: 0 });
  });
});
