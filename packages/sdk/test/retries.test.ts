/**
 * Retries: a write whose answer is lost (a gateway's 502, a dropped connection) is
 * retried with the same Idempotency-Key and the server sends it once; a 429 is retried
 * after its Retry-After; a 404 is not retried.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, ServerError, type Switchboard } from '../src/index.js';
import { backoffMs, BASE_DELAY_MS, MAX_DELAY_MS, retryAfterMs } from '../src/retry.js';
import { identityWithMailbox, receiveMail, sdkServer, type SdkServer } from './fixture.js';

/** What the proxy does with one request: pass it on, or fail it (after passing it on, or without). */
type Plan = 'forward' | 'forward-then-502' | '503' | '429';

interface Attempt {
  readonly method: string;
  readonly url: string;
  readonly idempotencyKey: string | undefined;
  readonly at: number;
  replayed?: boolean;
}

/**
 * A tiny HTTP proxy in front of the server: each request is handled per `plan(n)`, `n`
 * counting the requests to the same method and path from 0.
 */
async function failingProxy(target: string, plan: (n: number, req: http.IncomingMessage) => Plan) {
  const attempts: Attempt[] = [];
  const counts = new Map<string, number>();
  const server = http.createServer(async (req, res) => {
    const route = `${req.method} ${req.url}`;
    const n = counts.get(route) ?? 0;
    counts.set(route, n + 1);
    const attempt: Attempt = { method: req.method!, url: req.url!, idempotencyKey: req.headers['idempotency-key'] as string | undefined, at: Date.now() };
    attempts.push(attempt);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const what = plan(n, req);
    if (what === '503') {
      res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>503 Service Unavailable</h1>');
      return;
    }
    if (what === '429') {
      res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '1' }).end(JSON.stringify({
        type: 'urn:switchboard:error:rate_limited', title: 'Rate limited', status: 429, code: 'rate_limited',
        detail: 'Too many requests.', fix: 'Wait.', param: null, retryable: false,
      }));
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'connection') as [string, string][]);
    const answer = await fetch(`${target}${req.url}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
    const body = Buffer.from(await answer.arrayBuffer());
    attempt.replayed = answer.headers.get('idempotent-replayed') === 'true';
    if (what === 'forward-then-502') {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>502 Bad Gateway</h1>');
      return;
    }
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    attempts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let s: SdkServer;
let conversationId: string;
let proxy: Awaited<ReturnType<typeof failingProxy>> | undefined;

beforeAll(async () => {
  s = await sdkServer();
  await identityWithMailbox(s.sb, 'help@retry.test');
  conversationId = await receiveMail(s.sb, 'bo@customer.test', 'help@retry.test', 'Broken');
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});
afterAll(async () => { await s.close(); });

const replyPath = () => `/v1/conversations/${conversationId}/messages`;

/** The outbound messages of the conversation whose text is `text`. */
async function sentWith(sb: Switchboard, text: string): Promise<number> {
  const messages = await sb.conversations.messages(conversationId).toArray();
  return messages.filter((m) => m.type === 'message' && m.direction === 'outbound' && m.text === text).length;
}

describe('a write whose answer is lost', () => {
  it('is retried after a gateway 502 with the same Idempotency-Key, and sent once', async () => {
    proxy = await failingProxy(s.baseUrl, (n, req) => (req.method === 'POST' && n === 0 ? 'forward-then-502' : 'forward'));
    const sb = s.client({ baseUrl: proxy.url });
    const sent = await sb.conversations.reply(conversationId, { text: 'Retried after a 502.' });

    const posts = proxy.attempts.filter((a) => a.method === 'POST' && a.url === replyPath());
    expect(posts.length).toBe(2);
    expect(posts[0]!.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(posts[1]!.idempotencyKey).toBe(posts[0]!.idempotencyKey);
    // The server carried the first attempt out; the retry got its answer again.
    expect(posts[1]!.replayed).toBe(true);
    expect(sent.message.text).toBe('Retried after a 502.');
    expect(await sentWith(s.sb, 'Retried after a 502.')).toBe(1);
  });

  it('is retried after a 503 that never reached the server, and sent once', async () => {
    proxy = await failingProxy(s.baseUrl, (n, req) => (req.method === 'POST' && n === 0 ? '503' : 'forward'));
    const sb = s.client({ baseUrl: proxy.url });
    await sb.conversations.reply(conversationId, { text: 'Retried after a 503.' });
    const posts = proxy.attempts.filter((a) => a.method === 'POST');
    expect(posts.map((a) => a.idempotencyKey)).toEqual([posts[0]!.idempotencyKey, posts[0]!.idempotencyKey]);
    expect(posts[1]!.replayed).toBe(false);
    expect(await sentWith(s.sb, 'Retried after a 503.')).toBe(1);
  });

  it('is retried after the connection drops once the server has it, and sent once', async () => {
    const keys: (string | null)[] = [];
    let dropped = false;
    const sb = s.client({
      fetch: async (input, init) => {
        const request = new Request(input, init);
        if (request.method === 'POST') keys.push(request.headers.get('idempotency-key'));
        const answer = await fetch(request);
        if (request.method === 'POST' && !dropped) {
          dropped = true;
          await answer.body?.cancel();
          throw new TypeError('fetch failed: socket hang up');
        }
        return answer;
      },
    });
    await sb.conversations.reply(conversationId, { text: 'Retried after a drop.' });
    expect(keys.length).toBe(2);
    expect(keys[1]).toBe(keys[0]);
    expect(await sentWith(s.sb, 'Retried after a drop.')).toBe(1);
  });

  it('uses the caller\'s Idempotency-Key when given, so a second call with it is the first one again', async () => {
    const first = await s.sb.conversations.reply(conversationId, { text: 'Keyed.' }, { idempotencyKey: 'caller-key-1' });
    const again = await s.sb.conversations.reply(conversationId, { text: 'Keyed.' }, { idempotencyKey: 'caller-key-1' });
    expect(again.message.id).toBe(first.message.id);
    expect(await sentWith(s.sb, 'Keyed.')).toBe(1);
  });
});

describe('retry policy', () => {
  it('waits out Retry-After on a 429 before retrying', async () => {
    proxy = await failingProxy(s.baseUrl, (n) => (n === 0 ? '429' : 'forward'));
    const sb = s.client({ baseUrl: proxy.url });
    const identities = await sb.identities.list().page();
    expect(identities.data.length).toBeGreaterThan(0);
    expect(proxy.attempts.length).toBe(2);
    expect(proxy.attempts[1]!.at - proxy.attempts[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('gives up after maxRetries, throwing the last failure', async () => {
    proxy = await failingProxy(s.baseUrl, () => '503');
    const sb = s.client({ baseUrl: proxy.url, maxRetries: 2 });
    const err = await sb.identities.list().page().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ status: 503, code: 'unexpected_response', retryable: true });
    expect(proxy.attempts.length).toBe(3);
  });

  it('does not retry a 404', async () => {
    proxy = await failingProxy(s.baseUrl, () => 'forward');
    const sb = s.client({ baseUrl: proxy.url });
    await expect(sb.conversations.get('conv_01h455vb4pex5vsknk084sn02q')).rejects.toMatchObject({ status: 404, code: 'not_found' });
    expect(proxy.attempts.length).toBe(1);
  });

  it('throws ConnectionError when nothing answers', async () => {
    const sb = s.client({ baseUrl: 'http://127.0.0.1:9', maxRetries: 1 });
    await expect(sb.identities.list().page()).rejects.toBeInstanceOf(ConnectionError);
  });
});

describe('backoff', () => {
  it('waits a random time below an exponentially growing, capped ceiling (full jitter)', () => {
    fc.assert(fc.property(fc.nat({ max: 40 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
      const ms = backoffMs(attempt, () => r);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt));
    }));
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs(new Headers({ 'retry-after': '3' }), now)).toBe(3000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:05 GMT' }), now)).toBe(5000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }), now)).toBeNull();
    expect(retryAfterMs(new Headers(), now)).toBeNull();
  });
});
