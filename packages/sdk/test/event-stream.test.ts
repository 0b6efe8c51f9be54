/**
 * `events.stream()`: every feed event once, in order, across disconnections: a replayed
 * stream (dedupe by seq), a connection cut under it (a TCP proxy destroys its sockets),
 * and a server restart (the stream reconnects with Last-Event-ID to the new process).
 */
import fs from 'node:fs';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { startServer, type RunningServer } from '../../../src/server.js';
import { freePort, freshDatabase, tempDir } from '../../../test/helpers.js';
import { Switchboard, type Event, type StreamItem } from '../src/index.js';
import { identityWithMailbox, receiveMail, sdkServer } from './fixture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Consumes a stream in the background into `seen` until `stop` aborts it. */
function collect(stream: AsyncIterable<StreamItem>) {
  const seen: StreamItem[] = [];
  const done = (async () => { for await (const item of stream) seen.push(item); })();
  return { seen, done };
}

const seqs = (items: readonly StreamItem[]) => items.map((e) => (e as Event).seq);

/** A TCP proxy whose open connections can be cut at once. */
async function cuttableProxy(port: number) {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    connections += 1;
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    cut: () => { for (const s of sockets) s.destroy(); },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

describe('events.stream, reconnecting', () => {
  it('drops what a reconnection replays and resumes with Last-Event-ID', async () => {
    // A server that replays events 2 and 3 after the first connection ends at 3.
    const bodies = [
      'retry: 10\n\nid: 1\nevent: note\ndata: {"seq":1}\n\nid: 2\nevent: note\ndata: {"seq":2}\n\nid: 3\nevent: note\ndata: {"seq":3}\n\n',
      'id: 2\nevent: note\ndata: {"seq":2}\n\nid: 3\nevent: note\ndata: {"seq":3}\n\nid: 4\nevent: note\ndata: {"seq":4}\n\n',
    ];
    const asked: (string | null)[] = [];
    const stop = new AbortController();
    const sb = new Switchboard({
      baseUrl: 'http://switchboard.invalid', apiKey: 'k',
      fetch: async (input, init) => {
        const request = new Request(input, init);
        asked.push(request.headers.get('last-event-id'));
        const body = bodies.shift();
        if (body === undefined) return new Promise<Response>(() => {});
        return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
      },
    });
    const { seen } = collect(sb.events.stream({ after: 0, signal: stop.signal, reconnectDelayMs: 10 }));
    await until(() => seen.length >= 4, 'four events');
    await sleep(50);
    stop.abort();
    expect(seqs(seen)).toEqual([1, 2, 3, 4]);
    expect(asked.slice(0, 3)).toEqual(['0', '3', '4']);
  });

  /**
   * A fetch whose answers never see the request's signal once their headers are in: Node's
   * fetch follows a request's signal through a weak reference, so after a collection
   * aborting it may no longer reach the body. Each body sends `chunks` (then heartbeats
   * every 5 ms, when `heartbeats`) and ends only when its reader cancels it.
   */
  function deafFetch(chunks: string[], heartbeats: boolean) {
    const opened: { cancelled: boolean }[] = [];
    const fetch = async () => {
      const state = { cancelled: false };
      opened.push(state);
      let timer: NodeJS.Timeout | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
          if (heartbeats) timer = setInterval(() => controller.enqueue(new TextEncoder().encode(': heartbeat\n\n')), 5);
        },
        cancel() { state.cancelled = true; clearInterval(timer); },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    };
    return { fetch, opened };
  }

  it('ends on abort even when fetch no longer passes the abort to the body', async () => {
    const deaf = deafFetch(['id: 1\nevent: note\ndata: {"seq":1}\n\n'], true);
    const sb = new Switchboard({ baseUrl: 'http://switchboard.invalid', apiKey: 'k', fetch: deaf.fetch });
    const stop = new AbortController();
    const { seen, done } = collect(sb.events.stream({ after: 0, signal: stop.signal }));
    await until(() => seen.length === 1, 'the event');
    stop.abort();
    const ended = await Promise.race([done.then(() => true), sleep(2_000).then(() => false)]);
    expect(ended).toBe(true);
    expect(deaf.opened.map((b) => b.cancelled)).toEqual([true]);
  });

  it('replaces a silent connection even when fetch no longer passes the abort to the body', async () => {
    const deaf = deafFetch([], false);
    const sb = new Switchboard({ baseUrl: 'http://switchboard.invalid', apiKey: 'k', fetch: deaf.fetch });
    const stop = new AbortController();
    const { done } = collect(sb.events.stream({ after: 0, signal: stop.signal, idleTimeoutMs: 50, reconnectDelayMs: 10 }));
    try {
      await until(() => deaf.opened.length >= 2, 'a second connection', 5_000);
      expect(deaf.opened[0]!.cancelled).toBe(true);
    } finally {
      stop.abort();
      await Promise.race([done, sleep(2_000)]);
    }
  });

  it('yields every event once, in order, when the connection is cut under it', async () => {
    const s = await sdkServer();
    const proxy = await cuttableProxy(s.server.port);
    const stop = new AbortController();
    try {
      await identityWithMailbox(s.sb, 'feed@stream.test');
      const conversationId = await receiveMail(s.sb, 'al@people.test', 'feed@stream.test');
      const viaProxy = s.client({ baseUrl: `http://127.0.0.1:${proxy.port}` });
      const { seen, done } = collect(viaProxy.events.stream({ signal: stop.signal, reconnectDelayMs: 50 }));
      for (let i = 0; i < 5; i++) await s.sb.conversations.addNote(conversationId, { text: `before ${i}` });
      await until(() => seen.some((e) => e.type === 'note' && (e as Event & { data: { text: string } }).data.text === 'before 4'), 'the notes before the cut');
      for (let cut = 0; cut < 3; cut++) {
        proxy.cut();
        // Written while the stream is away: they come after the reconnection.
        for (let i = 0; i < 5; i++) await s.sb.conversations.addNote(conversationId, { text: `cut ${cut} note ${i}` });
        await sleep(20);
      }
      const feed = await s.sb.events.list({ after: 0 }).toArray();
      await until(() => seen.length >= feed.length, `${feed.length} events`);
      await sleep(200);
      stop.abort();
      await done;
      expect(seqs(seen)).toEqual(feed.map((e) => e.seq));
      expect(proxy.connections()).toBeGreaterThanOrEqual(2);
    } finally {
      stop.abort();
      await proxy.close();
      await s.close();
    }
  });

  it('from `latest`, resumes at the head it started from when cut before any event', async () => {
    const s = await sdkServer();
    const proxy = await cuttableProxy(s.server.port);
    const stop = new AbortController();
    try {
      await identityWithMailbox(s.sb, 'latest@stream.test');
      const conversationId = await receiveMail(s.sb, 'ed@people.test', 'latest@stream.test');
      await s.sb.conversations.addNote(conversationId, { text: 'before the stream' });
      const head = (await s.sb.events.list().toArray()).at(-1)!.seq;
      const viaProxy = s.client({ baseUrl: `http://127.0.0.1:${proxy.port}` });
      const { seen, done } = collect(viaProxy.events.stream({ after: 'latest', signal: stop.signal, reconnectDelayMs: 400 }));
      await until(() => proxy.connections() >= 1, 'the stream to connect');
      await sleep(200);
      proxy.cut();
      // Committed while the stream is away, before it saw any event.
      for (let i = 0; i < 3; i++) await s.sb.conversations.addNote(conversationId, { text: `while away ${i}` });
      const after = await s.sb.events.list({ after: head }).toArray();
      await until(() => seen.length >= after.length, `${after.length} events`);
      await sleep(200);
      stop.abort();
      await done;
      expect(seqs(seen)).toEqual(after.map((e) => e.seq));
      expect(proxy.connections()).toBe(2);
    } finally {
      stop.abort();
      await proxy.close();
      await s.close();
    }
  });

  describe('across a server restart', () => {
    const dataDir = tempDir('switchboard-sdk-restart-');
    let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
    let server: RunningServer | undefined;
    afterAll(async () => {
      await server?.close();
      await database?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('reconnects to the new process and loses or repeats nothing', async () => {
      database = await freshDatabase();
      const port = await freePort();
      const start = () => startServer(loadConfig({
        dataDir, databaseUrl: database!.url, host: '127.0.0.1', port, smtpHost: '127.0.0.1', smtpPort: 0, logLevel: 'silent', rateLimitSends: 0,
      }, {}));
      server = await start();
      const apiKey = server.firstRun!.apiKey;
      const sb = new Switchboard({ baseUrl: `http://127.0.0.1:${port}`, apiKey });
      await identityWithMailbox(sb, 'restart@stream.test');
      const conversationId = await receiveMail(sb, 'cy@people.test', 'restart@stream.test');
      for (let i = 0; i < 3; i++) await sb.conversations.addNote(conversationId, { text: `first process ${i}` });

      const stop = new AbortController();
      const { seen, done } = collect(sb.events.stream({ signal: stop.signal, reconnectDelayMs: 100 }));
      const before = await sb.events.list().toArray();
      await until(() => seen.length >= before.length, 'the first process\'s events');

      // The stream gets `shutdown` and ends; the new process listens on the same port.
      await server.close();
      server = await start();
      for (let i = 0; i < 3; i++) await sb.conversations.addNote(conversationId, { text: `second process ${i}` });

      const all = await sb.events.list().toArray();
      expect(all.length).toBe(before.length + 3);
      await until(() => seen.length >= all.length, 'the second process\'s events');
      await sleep(200);
      stop.abort();
      await done;
      expect(seqs(seen)).toEqual(all.map((e) => e.seq));
    });
  });
});
