/**
 * Graceful shutdown over real sockets (`RunningServer.close()`, what `serve` runs on
 * SIGTERM): live streams get a final `shutdown` event with a `retry:` hint and are closed,
 * idle SMTP sessions get `421`, a message and a request in flight finish, and whatever is
 * still open at SHUTDOWN_TIMEOUT_MS is cut, so closing never takes longer.
 */
import http from 'node:http';
import net from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { liveServer, rawEmail } from '../helpers.js';

const MAILBOX = 'inbox@shutdown.test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything a socket receives, and when it closed (ms since `since`), or null while open. */
function record(socket: net.Socket, since: () => number) {
  const seen = { text: '', closedAt: null as number | null, lines: [] as Array<{ line: string; at: number }> };
  socket.setEncoding('utf8');
  socket.on('data', (t: string) => {
    seen.text += t;
    for (const line of t.split('\r\n').filter(Boolean)) seen.lines.push({ line, at: since() });
  });
  socket.on('error', () => {});
  socket.on('close', () => { seen.closedAt = since(); });
  return seen;
}

async function until(check: () => boolean, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}

describe('shutdown', () => {
  let server: RunningServer | undefined;
  let cleanup = async () => {};
  afterEach(async () => {
    await server?.close();
    await cleanup();
  });

  const start = async (shutdownTimeoutMs: number) => {
    const live = await liveServer({ shutdownTimeoutMs });
    server = live.server;
    cleanup = live.close; // the server's close() again: the same promise
    const key = server.firstRun!.apiKey;
    const identity = await live.api('/v1/identities', { handle: 'inbox' });
    await live.api('/v1/mailboxes', { identity_id: identity.id, address: MAILBOX });
    return { server, key };
  };

  /** `n` live streams on one keep-alive agent, as a browser or the stream benchmark holds them. */
  const streams = async (port: number, key: string, n: number) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    return Promise.all(Array.from({ length: n }, () => new Promise<{ events: EventSourceMessage[]; retries: number[]; ended: () => boolean }>((resolve, reject) => {
      const events: EventSourceMessage[] = [];
      const retries: number[] = [];
      let ended = false;
      const parser = createParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms) });
      http.get({ host: '127.0.0.1', port, path: '/v1/events/stream', agent, headers: { authorization: `Bearer ${key}` } }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => parser.feed(c));
        res.on('end', () => { ended = true; });
        res.on('close', () => { ended = true; });
        resolve({ events, retries, ended: () => ended });
      }).on('error', reject);
    })));
  };

  /** An SMTP session after EHLO, with what it receives from then on. */
  const smtpSession = async (port: number, since: () => number) => {
    const socket = net.connect(port, '127.0.0.1');
    const seen = record(socket, since);
    await until(() => seen.text.includes('220 '));
    socket.write('EHLO client.test\r\n');
    await until(() => /250 /.test(seen.text));
    seen.lines.length = 0;
    return { socket, seen };
  };

  it('ends live streams with a shutdown event and an idle SMTP session with 421, well before the timeout', async () => {
    const { server, key } = await start(10_000);
    const live = await streams(server.port, key, 5);
    let started = Date.now();
    const smtp = await smtpSession(server.smtpPort, () => Date.now() - started);
    started = Date.now();
    await server.close();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(2_000); // an idle SMTP client used to hold it 30 s, streams for longer

    for (const stream of live) {
      await until(stream.ended);
      const last = stream.events.at(-1)!;
      expect(last.event).toBe('shutdown');
      expect(JSON.parse(last.data)).toMatchObject({ reason: 'server_shutdown', resume_after: expect.any(Number) });
      expect(stream.retries.at(-1)).toBeGreaterThanOrEqual(1_000);
      expect(stream.retries.at(-1)).toBeLessThan(5_000);
    }
    await until(() => smtp.seen.closedAt !== null);
    expect(smtp.seen.lines.map((l) => l.line)).toEqual([expect.stringMatching(/^421 4\.3\.2 /)]);
    expect(smtp.seen.lines[0]!.at).toBeLessThan(1_000);
  });

  it('lets a message and a request in flight finish, and cuts what is still open at SHUTDOWN_TIMEOUT_MS', async () => {
    const TIMEOUT_MS = 3_000;
    const { server, key } = await start(TIMEOUT_MS);
    let started = Date.now();
    const since = () => Date.now() - started;
    const live = await streams(server.port, key, 3);
    const idle = await smtpSession(server.smtpPort, since);

    // An SMTP message half sent.
    const sending = await smtpSession(server.smtpPort, since);
    for (const line of ['MAIL FROM:<a@elsewhere.test>', `RCPT TO:<${MAILBOX}>`, 'DATA']) {
      const replies = sending.seen.lines.length;
      sending.socket.write(`${line}\r\n`);
      await until(() => sending.seen.lines.length > replies);
    }
    expect(sending.seen.lines.map((l) => l.line.slice(0, 3))).toEqual(['250', '250', '354']);
    sending.seen.lines.length = 0;
    const mail = rawEmail({ from: 'a@elsewhere.test', to: MAILBOX, messageId: 'in-flight@elsewhere.test' });
    sending.socket.write(mail.subarray(0, 40));

    // Two requests with their bodies half sent: one finishes during the shutdown, one never does.
    const upload = (socket: net.Socket, body: Buffer) => socket.write(
      `POST /v1/inbound/email HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: message/rfc822\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const finishing = net.connect(server.port, '127.0.0.1');
    const finishingSeen = record(finishing, since);
    const body = rawEmail({ from: 'b@elsewhere.test', to: MAILBOX, messageId: 'request-in-flight@elsewhere.test' });
    upload(finishing, body);
    finishing.write(body.subarray(0, 20));
    const stuck = net.connect(server.port, '127.0.0.1');
    const stuckSeen = record(stuck, since);
    upload(stuck, body);
    stuck.write(body.subarray(0, 20));
    await sleep(200);

    started = Date.now();
    const closing = server.close();
    await sleep(300);
    sending.socket.write(Buffer.concat([mail.subarray(40), Buffer.from('.\r\n')]));
    finishing.write(body.subarray(20));
    await closing;
    const elapsed = Date.now() - started;
    // The request that never finishes holds the HTTP listener until the deadline, not longer.
    expect(elapsed).toBeGreaterThan(TIMEOUT_MS - 1_000);
    expect(elapsed).toBeLessThanOrEqual(TIMEOUT_MS + 200);

    expect(finishingSeen.text).toMatch(/^HTTP\/1\.1 201 /);
    expect(sending.seen.lines.map((l) => l.line.slice(0, 3))).toEqual(['250', '421']);
    await until(() => stuckSeen.closedAt !== null);
    expect(stuckSeen.text).not.toMatch(/^HTTP\/1\.1 2/);
    expect(idle.seen.lines.map((l) => l.line.slice(0, 3))).toEqual(['421']);
    expect(idle.seen.lines[0]!.at).toBeLessThan(1_000);
    for (const stream of live) {
      await until(stream.ended);
      expect(stream.events.at(-1)?.event).toBe('shutdown');
    }
  });
});
