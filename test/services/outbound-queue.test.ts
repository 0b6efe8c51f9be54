/**
 * The outbound email queue (services/outbound-queue.ts) against a real SMTP relay on
 * loopback (smtp-server) whose answer the test chooses, with a manual clock: retries
 * after temporary failures on the backoff schedule, permanent failures at once, the
 * lifetime, and each message handed over once.
 */
import net from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { classifyRelayError, deliverQueued, RETRY_SCHEDULE_MS, type OutboundWorkerOptions } from '../../src/services/outbound-queue.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

type Answer = 'accept' | 'busy' | 'refuse';

/** A relay answering every RCPT TO as `answer` says (`busy`: 451, `refuse`: 550). */
async function relayServer() {
  const got: string[] = [];
  const senders: string[] = [];
  let answer: Answer = 'accept';
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onRcptTo(_address, _session, callback) {
      if (answer === 'busy') return callback(Object.assign(new Error('4.7.1 Try again later'), { responseCode: 451 }));
      if (answer === 'refuse') return callback(Object.assign(new Error('5.1.1 User unknown'), { responseCode: 550 }));
      callback();
    },
    onData(stream, session, callback) {
      senders.push(session.envelope.mailFrom ? session.envelope.mailFrom.address : '');
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        got.push(/^Message-ID: <([^>]+)>/im.exec(Buffer.concat(chunks).toString())?.[1] ?? '?');
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    got, senders, port: (server.server.address() as net.AddressInfo).port,
    set: (a: Answer) => { answer = a; },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let h: Harness;
let clock: ManualClock;
let relay: Awaited<ReturnType<typeof relayServer>>;
let conversation = '';
let mailboxId = '';
const LIFETIME = 3 * 3_600_000;
let worker: OutboundWorkerOptions;

beforeAll(async () => {
  clock = new ManualClock(Date.parse('2026-06-01T08:00:00.000Z'));
  h = await harness({ outboundLifetimeMs: LIFETIME }, { clock });
  worker = { clock, lifetimeMs: LIFETIME };
  relay = await relayServer();
  ({ mailboxId } = await identityWithMailbox(h, 'desk@queue.test', 'desk'));
  await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { smtp: { host: '127.0.0.1', port: relay.port } });
  conversation = (await inbound(h, rawEmail({ from: 'c@far.test', to: 'desk@queue.test', messageId: 'q-seed@far.test' }))).body.results[0].conversation_id;
});
afterAll(async () => {
  await relay.close();
  await h.close();
});
beforeEach(() => relay.set('accept'));

/** Sends a reply (queued at once) and returns the message id. */
async function reply(text: string): Promise<{ id: string; headerId: string }> {
  const res = await h.request('POST', `/v1/conversations/${conversation}/messages`, { text }, { 'idempotency-key': `q-${text}` });
  expect(res.status).toBe(202);
  expect(res.body.message.status).toBe('queued');
  return { id: res.body.message.id, headerId: res.body.message.headers.message_id };
}
const message = async (id: string) => (await h.request('GET', `/v1/messages/${id}`)).body;
const statuses = async (id: string) => (await h.request('GET', `/v1/conversations/${conversation}/events?types=message_status&limit=200`)).body.data
  .filter((e: any) => e.data.message_id === id).map((e: any) => e.data.status);

describe('the outbound queue', () => {
  it('hands a queued reply to the relay once, and records it sent', async () => {
    const { id, headerId } = await reply('once');
    expect(await deliverQueued(h.store, worker)).toBe(1);
    expect(await deliverQueued(h.store, worker)).toBe(0);
    expect(relay.got.filter((g) => g === headerId)).toHaveLength(1);
    expect(await message(id)).toMatchObject({ status: 'sent', error: null });
    expect(await statuses(id)).toEqual(['sent']);
  });

  it('defers on a 4xx reply and retries on the backoff schedule (first within 30 s), then sends', async () => {
    relay.set('busy');
    const { id, headerId } = await reply('busy');
    await deliverQueued(h.store, worker);
    expect(await message(id)).toMatchObject({ status: 'deferred', error: expect.stringContaining('Try again later') });
    // Not due before the first retry.
    clock.advance(RETRY_SCHEDULE_MS[0] - 1_000);
    expect(await deliverQueued(h.store, worker)).toBe(0);
    clock.advance(1_000);
    expect(await deliverQueued(h.store, worker)).toBe(1);
    // Second failure: the next wait is longer.
    const entry = (await h.request('GET', '/v1/outbound?status=deferred')).body.data.find((e: any) => e.message_id === id);
    expect(entry.attempts).toBe(2);
    expect(Date.parse(entry.next_attempt_at) - clock.now()).toBe(RETRY_SCHEDULE_MS[1]);
    relay.set('accept');
    clock.advance(RETRY_SCHEDULE_MS[1]);
    await deliverQueued(h.store, worker);
    expect(await message(id)).toMatchObject({ status: 'sent' });
    expect(await statuses(id)).toEqual(['deferred', 'deferred', 'sent']);
    expect(relay.got.filter((g) => g === headerId)).toHaveLength(1);
  });

  it('fails at once on a 5xx reply, with the relay\'s text; a retry by the operator queues it again', async () => {
    relay.set('refuse');
    const { id } = await reply('refused');
    await deliverQueued(h.store, worker);
    expect(await message(id)).toMatchObject({ status: 'failed', error: expect.stringContaining('User unknown') });
    relay.set('accept');
    clock.advance(24 * 3_600_000);
    expect(await deliverQueued(h.store, worker)).toBe(0);
    expect((await h.request('POST', `/v1/messages/${id}/retry`)).status).toBe(202);
    expect(await message(id)).toMatchObject({ status: 'queued' });
    await deliverQueued(h.store, worker);
    expect(await statuses(id)).toEqual(['failed', 'queued', 'sent']);
  });

  it('gives up after the lifetime, naming the attempts and the last reason', async () => {
    relay.set('busy');
    const { id } = await reply('forever busy');
    for (let i = 0; i < 20; i++) {
      await deliverQueued(h.store, worker);
      clock.advance(RETRY_SCHEDULE_MS[Math.min(i, RETRY_SCHEDULE_MS.length - 1)]!);
    }
    const m = await message(id);
    expect(m.status).toBe('failed');
    expect(m.error).toMatch(/^gave up after \d+ attempts: .*Try again later/);
    const attempts = Number(/after (\d+) attempts/.exec(m.error)![1]);
    // Attempts at 0, 30 s, 2.5 min, 12.5 min, 42.5 min and 1 h 42.5 min; the next wait (2 h) would pass the 3-hour lifetime.
    expect(attempts).toBe(6);
  });

  it('sends with the mailbox address as return path, or its VERP address when the mailbox asks', async () => {
    await reply('plain return path');
    await deliverQueued(h.store, worker);
    expect(relay.senders.at(-1)).toBe('desk@queue.test');
    await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { verp: true });
    try {
      const { id } = await reply('verp return path');
      await deliverQueued(h.store, worker);
      expect(relay.senders.at(-1)).toBe(`desk+bounce-${id}@queue.test`);
    } finally {
      await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { verp: false });
    }
  });

  it('answers the retry endpoint with 404 for another organization\'s message and 409 for a sent one', async () => {
    const { id } = await reply('for the retry endpoint');
    await deliverQueued(h.store, worker);
    expect((await h.request('POST', `/v1/messages/${id}/retry`)).body.code).toBe('message_not_retryable');
    const other = await h.otherOrg();
    expect((await h.request('POST', `/v1/messages/${id}/retry`, undefined, { authorization: `Bearer ${other}` })).status).toBe(404);
    expect((await h.request('GET', '/v1/outbound', undefined, { authorization: `Bearer ${other}` })).body.data).toEqual([]);
  });
});

describe('classifyRelayError (RFC 5321 section 4.2.1)', () => {
  it('treats 5xx as permanent, 4xx and connection failures as temporary', () => {
    expect(classifyRelayError({ responseCode: 550, response: '550 5.1.1 User unknown' })).toEqual({ kind: 'permanent', reply: '550 5.1.1 User unknown' });
    expect(classifyRelayError({ responseCode: 452, response: '452 4.2.2 Mailbox full' }).kind).toBe('temporary');
    expect(classifyRelayError({ code: 'ECONNECTION', message: 'connect ECONNREFUSED 127.0.0.1:9' }).kind).toBe('temporary');
    expect(classifyRelayError({ code: 'ETIMEDOUT', message: 'Greeting never received' }).kind).toBe('temporary');
    expect(classifyRelayError({ code: 'EENVELOPE', message: 'No recipients defined' }).kind).toBe('permanent');
  });
});
