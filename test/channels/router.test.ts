/**
 * Router connections on a shared SMS line (services/router.ts), with an in-process
 * adapter recording sends: routing codes on identities; a person connects by texting a
 * code, converses both ways, texts STOP (sends then get 409 `connection_released`),
 * reconnects with the code and converses again; webhook retries never connect twice;
 * `GET /v1/connections` with its filters, paging and identity scope; release through the
 * API; another organization sees nothing. A property test drives random sequences of
 * code / plain / STOP texts from a few people and checks every message lands where the
 * rules say, with at most one active connection per person.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelAdapter, OutboundMessage } from '../../src/channels/adapter.js';
import { getChannelAccount } from '../../src/services/channel-accounts.js';
import { receiveInbound } from '../../src/services/inbound.js';
import type { SharedLineResult } from '../../src/services/router.js';
import { createApiKey } from '../../src/services/tenants.js';
import { harness, type Harness } from '../helpers.js';

const sent: OutboundMessage[] = [];
const adapter: ChannelAdapter = {
  channel: 'sms',
  supportsMedia: false,
  async send(message) {
    sent.push(message);
    return { providerMessageId: `SMout${sent.length}`, status: 'sent' };
  },
};

let h: Harness;
/** The line's own identity (unrouted messages), and two identities people connect to by code. */
const idn = { desk: '', sales: '', support: '' };
let lineId: string;
let sid = 0;

async function createIdentity(handle: string, routing_code?: string | null): Promise<string> {
  const res = await h.request('POST', '/v1/identities', { handle, ...(routing_code !== undefined ? { routing_code } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

async function poolLine(address: string): Promise<string> {
  const res = await h.request('POST', '/v1/channel_accounts', { identity_id: idn.desk, channel: 'sms', address, pool: true });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.pool).toBe(true);
  return res.body.id;
}

/** A text from `from` on the line, as the SMS adapter would hand it over. */
async function text(from: string, body: string, providerMessageId = `SMin${++sid}`, line = lineId): Promise<SharedLineResult> {
  const account = await getChannelAccount(h.store.db, h.orgId, line);
  return await receiveInbound(h.store, account, { from, text: body, providerMessageId }) as SharedLineResult;
}

async function conversation(id: string) {
  const res = await h.request('GET', `/v1/conversations/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

async function eventTypes(conversationId: string): Promise<string[]> {
  return (await h.request('GET', `/v1/conversations/${conversationId}/events?limit=200`)).body.data.map((e: { type: string }) => e.type);
}

beforeAll(async () => {
  h = await harness({}, { channels: { sms: adapter } });
  idn.desk = await createIdentity('frontdesk');
  idn.sales = await createIdentity('sales', 'sales');
  idn.support = await createIdentity('support', 'Help24');
  lineId = await poolLine('+1 415 555 0100');
});
afterAll(async () => h?.close());

describe('routing codes on identities', () => {
  it('stores a routing code upper-case and shows it on the identity', async () => {
    expect((await h.request('GET', `/v1/identities/${idn.sales}`)).body.routing_code).toBe('SALES');
    expect((await h.request('GET', `/v1/identities/${idn.desk}`)).body.routing_code).toBeNull();
  });

  it('returns 409 routing_code_in_use for a code another identity has, in any case', async () => {
    const res = await h.request('POST', '/v1/identities', { handle: 'sales2', routing_code: 'SaLeS' });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'routing_code_in_use', param: 'routing_code' });
    const patch = await h.request('PATCH', `/v1/identities/${idn.support}`, { routing_code: 'sales' });
    expect(patch.status).toBe(409);
    expect(patch.body.code).toBe('routing_code_in_use');
    // A handle clash is still a handle clash.
    expect((await h.request('POST', '/v1/identities', { handle: 'sales', routing_code: 'NEWCODE' })).body.code).toBe('handle_in_use');
  });

  it('clears a code with null and lets another identity take it', async () => {
    const a = await createIdentity('temp-a', 'TEMP1');
    expect((await h.request('PATCH', `/v1/identities/${a}`, { routing_code: null })).body.routing_code).toBeNull();
    const b = await createIdentity('temp-b', 'temp1');
    expect((await h.request('GET', `/v1/identities/${b}`)).body.routing_code).toBe('TEMP1');
    expect((await h.request('PATCH', `/v1/identities/${b}`, { display_name: 'B' })).body.routing_code).toBe('TEMP1');
    await h.request('DELETE', `/v1/identities/${a}`);
    await h.request('DELETE', `/v1/identities/${b}`);
  });

  it('refuses codes that are not 2-32 letters or digits, and provider keywords, with 400 validation_failed', async () => {
    for (const routing_code of ['a', 'x'.repeat(33), 'two words', 'sales!', '', 'STOP', 'help', 'Start']) {
      const res = await h.request('POST', '/v1/identities', { handle: `bad-${routing_code.length}-${routing_code.replace(/\W/g, '')}`, routing_code });
      expect(res.status, routing_code).toBe(400);
      expect(res.body.code, routing_code).toBe('validation_failed');
    }
  });
});

describe('the router scenario: connect by code, converse, STOP, 409, reconnect, converse', () => {
  const ann = '+14155550111';
  let salesConv: string;
  let connectionId: string;

  it('connects a person who texts a routing code, and files their message with that identity', async () => {
    const first = await text(ann, 'sales I would like a quote');
    expect(first).toMatchObject({ status: 'stored', route: 'activated' });
    salesConv = first.conversationId;
    connectionId = first.connectionId!;
    expect(connectionId).toMatch(/^conn_/);
    expect(await conversation(salesConv)).toMatchObject({ identity_id: idn.sales, account_id: lineId, counterpart: ann, connection_status: 'active' });
    expect(await eventTypes(salesConv)).toEqual(['connection_activated', 'message']);
    const conn = await h.request('GET', `/v1/connections/${connectionId}`);
    expect(conn.body).toEqual({
      id: connectionId, account_id: lineId, identity_id: idn.sales, counterpart: ann, conversation_id: salesConv,
      status: 'active', activated_at: expect.any(String), released_at: null, release_reason: null,
    });
  });

  it('files later texts from that person with the connected identity, and sends replies to them', async () => {
    const next = await text(ann, 'How much for 40 units?');
    expect(next).toMatchObject({ status: 'stored', route: 'connected', conversationId: salesConv, connectionId });
    // Another identity's code while connected is conversation, not a switch.
    expect(await text(ann, 'HELP24 is that you?')).toMatchObject({ route: 'connected', conversationId: salesConv });
    const reply = await h.request('POST', `/v1/conversations/${salesConv}/messages`, { text: '40 units: $400.' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(sent.at(-1)).toMatchObject({ to: ann, text: '40 units: $400.', conversationId: salesConv });
    expect((await conversation(salesConv)).message_count).toBe(4);
  });

  it('releases the connection when the person texts STOP, keeping the STOP in the conversation', async () => {
    const stop = await text(ann, '  Stop ');
    expect(stop).toMatchObject({ status: 'stored', route: 'stopped', conversationId: salesConv, connectionId });
    expect(await conversation(salesConv)).toMatchObject({ connection_status: 'released', message_count: 5 });
    expect((await eventTypes(salesConv)).slice(-2)).toEqual(['message', 'connection_released']);
    const events = (await h.request('GET', `/v1/conversations/${salesConv}/events?limit=200`)).body.data;
    expect(events.at(-1).data).toEqual({ connection_id: connectionId, account_id: lineId, counterpart: ann, reason: 'stop', by: null });
    expect((await h.request('GET', `/v1/connections/${connectionId}`)).body).toMatchObject({ status: 'released', release_reason: 'stop', released_at: expect.any(String) });
  });

  it('returns 409 connection_released for a send into the released conversation, and sends nothing', async () => {
    const before = sent.length;
    const res = await h.request('POST', `/v1/conversations/${salesConv}/messages`, { text: 'Still there?' });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'connection_released', retryable: false });
    expect(res.body.fix).toMatch(/routing code/);
    expect(sent.length).toBe(before);
    expect((await conversation(salesConv)).message_count).toBe(5);
  });

  it('files a text without a code after STOP with the line\'s own identity, unrouted', async () => {
    const loose = await text(ann, 'hello?');
    expect(loose).toMatchObject({ status: 'stored', route: 'unrouted', connectionId: null });
    expect(loose.conversationId).not.toBe(salesConv);
    expect(await conversation(loose.conversationId)).toMatchObject({ identity_id: idn.desk, counterpart: ann, connection_status: null });
  });

  it('reconnects a person who texts the code again: a new connection in the same conversation', async () => {
    const again = await text(ann, 'SALES.');
    expect(again).toMatchObject({ status: 'stored', route: 'activated', conversationId: salesConv });
    expect(again.connectionId).not.toBe(connectionId);
    expect((await conversation(salesConv)).connection_status).toBe('active');
    expect((await eventTypes(salesConv)).slice(-2)).toEqual(['connection_activated', 'message']);
    const reply = await h.request('POST', `/v1/conversations/${salesConv}/messages`, { text: 'Welcome back!' });
    expect(reply.status).toBe(201);
    expect(sent.at(-1)).toMatchObject({ to: ann, text: 'Welcome back!' });
    expect(await text(ann, 'Thanks, ordering now')).toMatchObject({ route: 'connected', conversationId: salesConv, connectionId: again.connectionId });
    const list = (await h.request('GET', `/v1/connections?account_id=${lineId}&identity_id=${idn.sales}`)).body.data
      .filter((c: { counterpart: string }) => c.counterpart === ann);
    expect(list.map((c: { status: string }) => c.status)).toEqual(['active', 'released']);
  });
});

describe('routing edge cases', () => {
  it('connects once for a webhook retry of the code message (dedup by provider id)', async () => {
    const bo = '+14155550122';
    const first = await text(bo, 'help24 my router is down', 'SMretry1');
    const retry = await text(bo, 'help24 my router is down', 'SMretry1');
    expect(first.route).toBe('activated');
    expect(retry).toEqual({ status: 'duplicate', conversationId: first.conversationId, route: null, connectionId: null });
    const conns = (await h.request('GET', `/v1/connections?identity_id=${idn.support}`)).body.data.filter((c: { counterpart: string }) => c.counterpart === bo);
    expect(conns).toHaveLength(1);
    expect(await eventTypes(first.conversationId)).toEqual(['connection_activated', 'message']);
  });

  it('takes a code only as the first word', async () => {
    const cy = '+14155550133';
    expect(await text(cy, 'I want sales')).toMatchObject({ route: 'unrouted', connectionId: null });
    expect(await text(cy, 'salesman here')).toMatchObject({ route: 'unrouted' });
    expect(await text(cy, 'STOP')).toMatchObject({ route: 'unrouted' });
    const conns = (await h.request('GET', '/v1/connections?limit=200')).body.data.filter((c: { counterpart: string }) => c.counterpart === cy);
    expect(conns).toEqual([]);
  });

  it('does not route on a line that is not shared', async () => {
    const plain = (await h.request('POST', '/v1/channel_accounts', { identity_id: idn.desk, channel: 'sms', address: '+14155550199' })).body.id;
    const res = await text('+14155550144', 'sales please', 'SMplain1', plain);
    expect(res.status).toBe('stored');
    expect(await conversation(res.conversationId)).toMatchObject({ identity_id: idn.desk, connection_status: null });
    expect((await h.request('GET', `/v1/connections?account_id=${plain}`)).body.data).toEqual([]);
  });
});

describe('GET /v1/connections and release', () => {
  let lineB: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    lineB = await poolLine('+14155550200');
    for (const [who, body] of [['p1', 'sales hi'], ['p2', 'help24 hi'], ['p3', 'sales hello']] as const) {
      const r = await text(`+1415555030${who.slice(1)}`, body, undefined, lineB);
      ids[who] = r.connectionId!;
    }
  });

  it('lists newest first, filtered by status, identity and line, in keyset pages', async () => {
    const all = (await h.request('GET', `/v1/connections?account_id=${lineB}`)).body;
    expect(all.data.map((c: { id: string }) => c.id)).toEqual([ids.p3, ids.p2, ids.p1]);
    const sales = (await h.request('GET', `/v1/connections?account_id=${lineB}&identity_id=${idn.sales}`)).body.data;
    expect(sales.map((c: { id: string }) => c.id)).toEqual([ids.p3, ids.p1]);
    const first = (await h.request('GET', `/v1/connections?account_id=${lineB}&limit=2`)).body;
    expect(first).toMatchObject({ has_more: true });
    const second = (await h.request('GET', `/v1/connections?account_id=${lineB}&limit=2&cursor=${first.next_cursor}`)).body;
    expect([...first.data, ...second.data].map((c: { id: string }) => c.id)).toEqual([ids.p3, ids.p2, ids.p1]);
    expect(second.has_more).toBe(false);
    expect((await h.request('GET', `/v1/connections?account_id=${lineB}&status=released`)).body.data).toEqual([]);
    expect((await h.request('GET', '/v1/connections?status=gone')).status).toBe(400);
  });

  it('releases an active connection with reason api and the actor, and refuses a second release with 409', async () => {
    const res = await h.request('POST', `/v1/connections/${ids.p1}/release`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: ids.p1, status: 'released', release_reason: 'api', released_at: expect.any(String) });
    const events = (await h.request('GET', `/v1/conversations/${res.body.conversation_id}/events?limit=200`)).body.data;
    expect(events.at(-1)).toMatchObject({ type: 'connection_released', data: { reason: 'api', by: { key_id: expect.stringMatching(/^key_/) } } });
    expect((await conversation(res.body.conversation_id)).connection_status).toBe('released');
    const again = await h.request('POST', `/v1/connections/${ids.p1}/release`, {});
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('connection_released');
    const released = (await h.request('GET', `/v1/connections?account_id=${lineB}&status=released`)).body.data;
    expect(released.map((c: { id: string }) => c.id)).toEqual([ids.p1]);
    // The person is routed again only by texting a code.
    expect(await text('+14155550301', 'thanks', undefined, lineB)).toMatchObject({ route: 'unrouted' });
  });

  it('shows a key scoped to an identity its own connections only', async () => {
    const key = (await createApiKey(h.store.db, h.orgId, 'support only', { identityId: idn.support })).key;
    const as = (method: string, url: string, body?: unknown) => h.request(method, url, body, { authorization: `Bearer ${key}` });
    const list = (await as('GET', `/v1/connections?account_id=${lineB}`)).body.data;
    expect(list.map((c: { id: string }) => c.id)).toEqual([ids.p2]);
    expect((await as('GET', `/v1/connections/${ids.p2}`)).status).toBe(200);
    const forbidden = await as('GET', `/v1/connections?identity_id=${idn.sales}`);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe('forbidden_identity');
    expect((await as('GET', `/v1/connections/${ids.p3}`)).status).toBe(404);
    expect((await as('POST', `/v1/connections/${ids.p3}/release`)).status).toBe(404);
    expect((await h.request('GET', `/v1/connections/${ids.p3}`)).body.status).toBe('active');
  });

  it('answers another organization with 404 and an empty list', async () => {
    const other = await h.otherOrg();
    const as = (method: string, url: string) => h.request(method, url, undefined, { authorization: `Bearer ${other}` });
    expect((await as('GET', `/v1/connections/${ids.p3}`)).status).toBe(404);
    const release = await as('POST', `/v1/connections/${ids.p3}/release`);
    expect(release.status).toBe(404);
    expect(release.body.code).toBe('not_found');
    expect((await as('GET', '/v1/connections')).body.data).toEqual([]);
    expect((await h.request('GET', `/v1/connections/${ids.p3}`)).body.status).toBe('active');
    expect((await h.request('GET', '/v1/connections/conn_nope')).status).toBe(404);
  });
});

describe('the router over random texts (property)', () => {
  type Kind = 'sales' | 'support' | 'plain' | 'stop' | 'near';
  const CODE: Record<'sales' | 'support', string> = { sales: 'sales', support: 'HELP24' };
  const casing = (s: string, flip: boolean) => (flip ? s.toLowerCase() : s.toUpperCase());
  const textFor = (kind: Kind, flip: boolean): string => {
    switch (kind) {
      case 'sales': case 'support': return `${casing(CODE[kind], flip)} hi there`;
      case 'stop': return ` ${casing('stop', flip)}\n`;
      case 'near': return flip ? 'please, sales' : 'STOP now';
      case 'plain': return 'just a question';
    }
  };
  let line = 0;

  it('files every text where the rules say, with at most one active connection per person', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ who: fc.integer({ min: 0, max: 2 }), kind: fc.constantFrom<Kind>('sales', 'support', 'plain', 'stop', 'near'), flip: fc.boolean(), retry: fc.boolean() }),
        { minLength: 1, maxLength: 12 }),
      async (steps) => {
        const lineAccount = await poolLine(`+1415555${String(1000 + ++line).padStart(4, '0')}`);
        const people = [0, 1, 2].map((i) => `+1212555${String(line).padStart(2, '0')}${i}0`);
        /** The model: each person's connected identity, or null; the last connection status per (identity, person). */
        const connected: (string | null)[] = [null, null, null];
        const status = new Map<string, 'active' | 'released'>();
        const conversationOf = new Map<string, string>();
        let last: { from: string; body: string; id: string } | null = null;
        for (const step of steps) {
          const from = people[step.who]!;
          const body = textFor(step.kind, step.flip);
          if (step.retry && last) {
            // A webhook retry of the previous message changes nothing.
            expect((await text(last.from, last.body, last.id, lineAccount)).status).toBe('duplicate');
          }
          const providerId = `SMp${++sid}`;
          last = { from, body, id: providerId };
          const current = connected[step.who];
          let expectedIdentity: string;
          if (current) {
            expectedIdentity = current;
            if (step.kind === 'stop') {
              connected[step.who] = null;
              status.set(`${current}|${from}`, 'released');
            }
          } else if (step.kind === 'sales' || step.kind === 'support') {
            expectedIdentity = idn[step.kind];
            connected[step.who] = expectedIdentity;
            status.set(`${expectedIdentity}|${from}`, 'active');
          } else {
            expectedIdentity = idn.desk;
          }
          const res = await text(from, body, providerId, lineAccount);
          expect(res.status).toBe('stored');
          const conv = await h.store.db.selectFrom('conversations').selectAll().where('id', '=', res.conversationId).executeTakeFirstOrThrow();
          expect([conv.identity_id, conv.counterpart, conv.account_id]).toEqual([expectedIdentity, from, lineAccount]);
          // One conversation per (identity, person, line), reused by every route.
          const key = `${expectedIdentity}|${from}`;
          expect(conversationOf.get(key) ?? res.conversationId).toBe(res.conversationId);
          conversationOf.set(key, res.conversationId);
        }
        const rows = await h.store.db.selectFrom('connections').selectAll().where('account_id', '=', lineAccount).execute();
        for (const [i, person] of people.entries()) {
          const active = rows.filter((r) => r.counterpart === person && r.status === 'active');
          expect(active.map((r) => r.identity_id)).toEqual(connected[i] ? [connected[i]] : []);
        }
        for (const [key, want] of status) {
          const conv = await h.store.db.selectFrom('conversations').select('connection_status').where('id', '=', conversationOf.get(key)!).executeTakeFirstOrThrow();
          expect(conv.connection_status, key).toBe(want);
        }
      },
    ), { numRuns: 25 });
  });
});
