/**
 * The HTTP listener's limits over real sockets: a request whose headers or body do not
 * arrive in time is answered 408 and closed, a connection past HTTP_MAX_CONNECTIONS gets
 * 503 with Retry-After, and an overloaded process (event-loop delay, heap) answers 503
 * with Retry-After to all but `GET /healthz`.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigOverrides } from '../../src/config.js';
import type { RunningServer } from '../../src/server.js';
import { liveServer, rawEmail } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw connection: what it received and whether the server closed it. */
function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  const seen = { text: '', closed: false };
  socket.setEncoding('utf8');
  socket.on('data', (t: string) => { seen.text += t; });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => { seen.closed = true; resolve(); }));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return {
    socket, seen, connected,
    /** Resolves true when the server closed the connection within `ms`. */
    closedWithin: (ms: number) => Promise.race([closed.then(() => true), sleep(ms).then(() => false)]),
  };
}

/** One request on its own connection (`Connection: close`): status, headers and body. */
async function request(port: number, method: string, path: string, headers: Record<string, string> = {}) {
  const c = connect(port);
  c.socket.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  if (!(await c.closedWithin(5_000))) throw new Error(`no complete answer to ${method} ${path}`);
  const [head, body] = c.seen.text.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  const headersOut = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(lines[0]!.split(' ')[1]), headers: headersOut, body: body ?? '' };
}

const serverWith = (overrides: ConfigOverrides) => liveServer(overrides);

describe('HTTP timeouts and connection cap', () => {
  const TIMEOUT_MS = 500;
  let s: Awaited<ReturnType<typeof serverWith>>;
  let server: RunningServer;
  beforeAll(async () => {
    s = await serverWith({ httpRequestTimeoutMs: TIMEOUT_MS, httpHeadersTimeoutMs: TIMEOUT_MS, httpMaxConnections: 3 });
    server = s.server;
  });
  afterAll(async () => { await s?.close(); });

  const slowUpload = (headers: string) => {
    const c = connect(server.port);
    const body = rawEmail({ from: 'slow@elsewhere.test', to: 'x@limits.test' });
    c.socket.write(`POST /v1/inbound/email HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Content-Type: message/rfc822\r\nContent-Length: ${body.length}\r\n\r\n`);
    c.socket.write(body.subarray(0, 10));
    return c;
  };

  it('answers 408 and closes the connection when a body does not arrive within HTTP_REQUEST_TIMEOUT_MS', async () => {
    const started = Date.now();
    const c = slowUpload(`Authorization: Bearer ${server.firstRun!.apiKey}\r\n`);
    const trickle = setInterval(() => { if (!c.seen.closed) c.socket.write('x'); }, 100); // bytes keep coming, too slowly
    try {
      expect(await c.closedWithin(3_000)).toBe(true);
    } finally {
      clearInterval(trickle);
    }
    expect(c.seen.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
  });

  it('closes a slow unauthenticated upload too (its 401 does not keep the connection reading)', async () => {
    const c = slowUpload('');
    expect(await c.closedWithin(3_000)).toBe(true);
    expect(c.seen.text).not.toMatch(/^HTTP\/1\.1 2/);
  });

  it('answers 408 and closes the connection when headers do not arrive in time', async () => {
    const c = connect(server.port);
    c.socket.write('GET /v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    expect(await c.closedWithin(3_000)).toBe(true);
    expect(c.seen.text).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('answers 503 with Retry-After on a connection past HTTP_MAX_CONNECTIONS, and serves again once one closes', async () => {
    await sleep(100); // the connections of the tests before are gone
    const held = [connect(server.port), connect(server.port), connect(server.port)];
    await Promise.all(held.map((c) => c.connected));
    await sleep(50);
    const refused = await request(server.port, 'GET', '/v1/conversations');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('10');
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'not_ready', retryable: true });
    expect((await request(server.port, 'GET', '/healthz')).status).toBe(200); // liveness is still answered
    held[0]!.socket.destroy();
    await sleep(100);
    expect((await request(server.port, 'GET', '/v1/conversations')).status).toBe(401); // served: no key
    for (const c of held) c.socket.destroy();
  });
});

describe('HTTP under pressure', () => {
  let heavy: Awaited<ReturnType<typeof serverWith>> | undefined;
  let slow: Awaited<ReturnType<typeof serverWith>> | undefined;
  afterAll(async () => {
    await heavy?.close();
    await slow?.close();
  });

  it('answers 503 with Retry-After past HTTP_MAX_HEAP_USED_BYTES, except GET /healthz; /readyz reports it', async () => {
    heavy = await serverWith({ httpMaxHeapUsedBytes: 1 }); // always over
    await sleep(1_200); // the first sample
    const port = heavy.server.port;
    const refused = await request(port, 'GET', '/v1/conversations');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('10');
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'not_ready', detail: expect.stringMatching(/heapUsedBytes/) });
    expect((await request(port, 'GET', '/readyz')).status).toBe(503);
    expect((await request(port, 'GET', '/healthz')).status).toBe(200);
  });

  it('answers 503 with Retry-After while the event loop lags more than HTTP_MAX_EVENT_LOOP_DELAY_MS', async () => {
    slow = await serverWith({ httpMaxEventLoopDelayMs: 100 });
    const port = slow.server.port;
    expect((await request(port, 'GET', '/healthz')).status).toBe(200);
    // Keep the loop busy 200 ms at a time (I/O runs between slices) until a sample (each
    // second) has seen only that, then ask.
    const busy = (ms: number) => { const end = Date.now() + ms; while (Date.now() < end) { /* busy */ } };
    let answer: Awaited<ReturnType<typeof request>> | undefined;
    const started = Date.now();
    let asked = false;
    while (!answer && Date.now() - started < 10_000) {
      busy(200);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      if (!asked && Date.now() - started > 2_200) {
        asked = true;
        void request(port, 'GET', '/v1/conversations').then((r) => { answer = r; });
      }
    }
    expect(answer?.status).toBe(503);
    expect(answer?.headers['retry-after']).toBe('10');
    expect(JSON.parse(answer!.body)).toMatchObject({ code: 'not_ready', detail: expect.stringMatching(/eventLoopDelay/) });
  });
});
