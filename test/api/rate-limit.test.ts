/**
 * Rate limits (api/rate-limit.ts): failed authentications per client IP, requests per
 * API key, sends per identity; 429 `rate_limited` with Retry-After and RateLimit-*
 * headers; on PostgreSQL, two API instances on one store share the counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { harness, identityWithMailbox, inbound, rawEmail, TEST_STORE, type Harness } from '../helpers.js';
import { zone } from '../dns.js';

const AUTH_FAILURES = 5;
const REQUESTS = 8;
const SENDS = 3;

let h: Harness;
beforeAll(async () => {
  h = await harness({ rateLimitAuthFailures: AUTH_FAILURES, rateLimitRequests: REQUESTS, rateLimitSends: SENDS });
});
afterAll(async () => { await h.close(); });

/** A request from `ip` (as the TCP peer) with `key`. */
const from = (ip: string, key: string, url = '/v1/identities', app = h.app) =>
  app.inject({ method: 'GET', url, remoteAddress: ip, headers: { authorization: `Bearer ${key}` } });

/** A key of the org, made by the harness key (which has its own request budget). */
async function newKey(on: Harness = h, body: Record<string, unknown> = {}): Promise<string> {
  const res = await on.request('POST', '/v1/api_keys', { name: 'k', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.key;
}

describe('failed authentication per client IP', () => {
  it(`answers 429 after ${AUTH_FAILURES} failures, before checking any key, and leaves other addresses alone`, async () => {
    const good = await newKey();
    for (let i = 0; i < AUTH_FAILURES; i++) {
      const res = await from('203.0.113.7', `sb_key_guess${i}_nope`);
      expect(res.statusCode).toBe(401);
    }
    const blocked = await from('203.0.113.7', 'sb_key_guess_again');
    expect(blocked.statusCode).toBe(429);
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(blocked.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(JSON.parse(blocked.body)).toMatchObject({ status: 429, code: 'rate_limited', retryable: true });
    expect(JSON.parse(blocked.body).fix).toBeTruthy();
    expect(blocked.headers['ratelimit-limit']).toBe(String(AUTH_FAILURES));
    expect(blocked.headers['ratelimit-remaining']).toBe('0');
    // Even a right key is not looked at from that address: guessing cannot tell a hit.
    expect((await from('203.0.113.7', good)).statusCode).toBe(429);
    // Another address is not affected, with a wrong key or a right one.
    expect((await from('198.51.100.2', 'sb_key_other_nope')).statusCode).toBe(401);
    expect((await from('198.51.100.2', good)).statusCode).toBe(200);
  });

  it('does not count successful authentications', async () => {
    const good = await newKey();
    for (let i = 0; i < AUTH_FAILURES - 1; i++) expect((await from('192.0.2.50', 'sb_key_x_y')).statusCode).toBe(401);
    for (let i = 0; i < 3; i++) expect((await from('192.0.2.50', good)).statusCode).toBe(200);
    expect((await from('192.0.2.50', 'sb_key_x_y')).statusCode).toBe(401); // the last one allowed
    expect((await from('192.0.2.50', 'sb_key_x_y')).statusCode).toBe(429);
  });
});

describe('requests per API key', () => {
  it(`lets a key make ${REQUESTS} requests a minute, counting down RateLimit-Remaining, then 429; other keys keep theirs`, async () => {
    const key = await newKey();
    const other = await newKey();
    const remaining: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const res = await from('192.0.2.10', key);
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBe(String(REQUESTS));
      remaining.push(Number(res.headers['ratelimit-remaining']));
      const reset = Number(res.headers['ratelimit-reset']);
      expect(reset).toBeGreaterThan(0);
      expect(reset).toBeLessThanOrEqual(60);
    }
    expect(remaining).toEqual(Array.from({ length: REQUESTS }, (_, i) => REQUESTS - 1 - i));
    const over = await from('192.0.2.10', key);
    expect(over.statusCode).toBe(429);
    expect(JSON.parse(over.body).code).toBe('rate_limited');
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    // Per key, not per address: the other key from the same address goes on.
    expect((await from('192.0.2.10', other)).statusCode).toBe(200);
  });
});

describe('sends per identity', () => {
  // Its own store, without the per-key limit of the others.
  let h: Harness;
  let identityId: string;
  let conv: string;
  let otherConv: string;
  afterAll(async () => { await h.close(); });
  beforeAll(async () => {
    h = await harness({ rateLimitRequests: 0, rateLimitSends: SENDS });
    ({ identityId } = await identityWithMailbox(h, 'agent@limits.test', 'agent'));
    await identityWithMailbox(h, 'other@limits.test', 'other');
    conv = (await inbound(h, rawEmail({ from: 'kim@buyer.test', to: 'agent@limits.test', messageId: 'l1@buyer.test' }))).body.results[0].conversation_id;
    otherConv = (await inbound(h, rawEmail({ from: 'kim@buyer.test', to: 'other@limits.test', messageId: 'l2@buyer.test' }))).body.results[0].conversation_id;
  });

  it(`accepts ${SENDS} sends of one identity a minute (replies and first messages alike), then 429; a replay is not counted`, async () => {
    const key = await newKey(h);
    const auth = { authorization: `Bearer ${key}` };
    const reply = (text: string, idem?: string) =>
      h.request('POST', `/v1/conversations/${conv}/messages`, { text }, { ...auth, ...(idem ? { 'idempotency-key': idem } : {}) });
    const first = await reply('One.', 'send-1');
    expect(first.status).toBe(202);
    expect(first.headers['ratelimit-limit']).toBe(String(SENDS));
    expect(first.headers['ratelimit-remaining']).toBe(String(SENDS - 1));
    // A replay answers what was sent and does not count.
    const replay = await reply('One.', 'send-1');
    expect(replay.status).toBe(202);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect((await h.request('POST', '/v1/messages', { identity_id: identityId, to: 'lee@buyer.test', subject: 'Hi', text: 'Two.' }, auth)).status).toBe(202);
    expect((await reply('Three.')).status).toBe(202);
    const over = await reply('Four.', 'send-4');
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ code: 'rate_limited', retryable: true });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    // Nothing more was sent: the conversation holds the inbound message and two replies
    // (the first message opened a conversation of its own).
    expect((await h.request('GET', `/v1/conversations/${conv}`)).body.message_count).toBe(3);
    // Another identity of the organization sends on.
    expect((await h.request('POST', `/v1/conversations/${otherConv}/messages`, { text: 'Fine.' }, auth)).status).toBe(202);
  });

  it('neither counts nor shows another identity\'s budget to a key scoped away from it', async () => {
    const others = (await h.request('GET', '/v1/identities')).body.data.find((i: any) => i.handle === 'other').id;
    const scoped = await newKey(h, { identity_id: others });
    // The agent identity is at its limit; a scoped key of another identity gets 404, as for any conversation it cannot see.
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Sneak.' }, { authorization: `Bearer ${scoped}` });
    expect(res.status).toBe(404);
    // Naming the agent identity in a first send is a 403 forbidden_identity, never the 429 that would show its count.
    const first = await h.request('POST', '/v1/messages', { identity_id: identityId, to: 'lee@buyer.test', subject: 'Hi', text: 'Sneak.' }, { authorization: `Bearer ${scoped}` });
    expect(first.status).toBe(403);
    expect(first.body.code).toBe('forbidden_identity');
  });
});

describe.skipIf(TEST_STORE !== 'postgres')('shared by the nodes of one PostgreSQL store', () => {
  it('counts failed authentications made on two nodes together', async () => {
    const second = await buildApp({ store: h.store, config: h.config, logger: false, isReady: () => true, resolver: zone() });
    try {
      const nodes = [h.app, second];
      for (let i = 0; i < AUTH_FAILURES; i++) {
        expect((await from('203.0.113.99', `sb_key_n${i}_x`, '/v1/identities', nodes[i % 2])).statusCode).toBe(401);
      }
      // The shared count reached the limit at a failure on the first node, which refuses at
      // once; the second learns of it at the address's next failure there (one more guess).
      expect((await from('203.0.113.99', 'sb_key_a_x', '/v1/identities', h.app)).statusCode).toBe(429);
      expect((await from('203.0.113.99', 'sb_key_b_x', '/v1/identities', second)).statusCode).toBe(401);
      expect((await from('203.0.113.99', 'sb_key_c_x', '/v1/identities', h.app)).statusCode).toBe(429);
      expect((await from('203.0.113.99', 'sb_key_d_x', '/v1/identities', second)).statusCode).toBe(429);
    } finally {
      await second.close();
    }
  });
});
