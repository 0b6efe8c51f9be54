/**
 * Several Switchboard nodes on one PostgreSQL database (SPEC section 8): two `serve`
 * processes share a database; mail delivered over SMTP to both at once is read back
 * complete through either; writers in both processes append to one conversation while a
 * reader pages its timeline and the organization's commit-ordered event read, and the
 * reader sees every event exactly once, in order; no-reply timers and webhook deliveries,
 * swept by both nodes, happen once each. PostgreSQL project only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { createParser } from 'eventsource-parser';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { startServer } from '../../src/server.js';
import { listOrganizations } from '../../src/store/tenants.js';
import { listOrgEventsAfter } from '../../src/store/timeline.js';
import { freePort, freshDatabase, rawEmail, TEST_STORE, tempDir, NO_LOAD_SHEDDING } from '../helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/switchboard.js');
const SKIP = TEST_STORE !== 'postgres';
if (SKIP) console.warn('test/postgres: runs in the postgres project only (set TEST_DATABASE_URL); skipping');

interface Node { child: ChildProcess; base: string; smtpPort: number }

describe.skipIf(SKIP)('two nodes on one PostgreSQL database', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let key = '';
  let orgId = '';
  const nodes: Node[] = [];
  let store: Store;

  // Both nodes sweep for timers and webhook deliveries every 50 ms, so they race for them.
  const env = () => ({ ...process.env, DATABASE_URL: database.url!, DATA_DIR: tempDir('switchboard-node-'), LOG_LEVEL: 'warn', SWEEP_INTERVAL_MS: '50', OUTBOUND_ALLOW_PRIVATE: 'true' });

  const api = async (node: Node, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${node.base}${p}`, {
      method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.json() as any };
  };

  beforeAll(async () => {
    database = await freshDatabase();
    // One `init` first (nodes starting on an empty database would each create an organization).
    const init = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, [BIN, 'init', '--json'], { env: env(), stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d) => { out += d; });
      c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`init exited ${code}`))));
    });
    ({ api_key: key, org_id: orgId } = JSON.parse(init));
    for (let i = 0; i < 2; i++) {
      const [port, smtpPort] = [await freePort(), await freePort()];
      const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--smtp-port', String(smtpPort), '--host', '127.0.0.1'],
        { env: { ...env(), SMTP_HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'inherit'] });
      nodes.push({ child, base: `http://127.0.0.1:${port}`, smtpPort });
    }
    const deadline = Date.now() + 30_000;
    for (const node of nodes) {
      for (;;) {
        const ok = await fetch(`${node.base}/readyz`).then((r) => r.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error('a node did not become ready');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    store = await openStore(loadConfig({ dataDir: tempDir(), databaseUrl: database.url, logLevel: 'silent' }, {}));
  });

  afterAll(async () => {
    for (const n of nodes) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => new Promise((r) => (n.child.exitCode !== null ? r(null) : n.child.once('exit', r)))));
    await store?.close();
    await database?.drop();
  });

  it('takes mail over SMTP on both nodes at once and serves all of it from either', async () => {
    const idn = await api(nodes[0]!, 'POST', '/v1/identities', { handle: 'desk' });
    expect((await api(nodes[1]!, 'POST', '/v1/mailboxes', { identity_id: idn.body.id, address: 'desk@nodes.test' })).status).toBe(201);
    const THREADS = 12, REPLIES = 4;
    const send = (node: Node, raw: Buffer) => nodemailer.createTransport({ host: '127.0.0.1', port: node.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ envelope: { from: 'c@x.test', to: ['desk@nodes.test'] }, raw });
    // Each thread's messages go alternately to node 0 and node 1, all threads in parallel.
    await Promise.all(Array.from({ length: THREADS }, async (_, t) => {
      for (let r = 0; r <= REPLIES; r++) {
        const raw = rawEmail({
          from: `c${t}@x.test`, to: 'desk@nodes.test', subject: `Thread ${t}`, messageId: `t${t}-${r}@x.test`,
          ...(r > 0 ? { inReplyTo: `t${t}-${r - 1}@x.test`, references: Array.from({ length: r }, (_, k) => `<t${t}-${k}@x.test>`).join(' ') } : {}),
        });
        await send(nodes[(t + r) % 2]!, raw);
      }
    }));
    for (const node of nodes) {
      const list = await api(node, 'GET', '/v1/conversations?limit=200');
      expect(list.body.data).toHaveLength(THREADS);
      expect(list.body.data.map((c: any) => c.message_count)).toEqual(Array(THREADS).fill(REPLIES + 1));
      expect(new Set(list.body.data.map((c: any) => c.counterpart))).toEqual(new Set(Array.from({ length: THREADS }, (_, t) => `c${t}@x.test`)));
    }
  });

  it('merges the same pairs on both nodes at once, by hand both ways and by threading, each pair once and without a deadlock', async () => {
    const idn = await api(nodes[0]!, 'POST', '/v1/identities', { handle: 'merges' });
    expect((await api(nodes[0]!, 'POST', '/v1/mailboxes', { identity_id: idn.body.id, address: 'merges@nodes.test' })).status).toBe(201);
    const upload = async (raw: Buffer) => {
      const res = await fetch(`${nodes[0]!.base}/v1/inbound/email`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'message/rfc822' }, body: new Uint8Array(raw) });
      return ((await res.json()) as any).results[0].conversation_id as string;
    };
    const PAIRS = 8;
    const pairs: { older: string; newer: string }[] = [];
    for (let p = 0; p < PAIRS; p++) {
      const older = await upload(rawEmail({ from: `p${p}@x.test`, to: 'merges@nodes.test', messageId: `m${p}-a@x.test` }));
      // A reply to a message not yet here opens a conversation of its own.
      const newer = await upload(rawEmail({ from: `p${p}@x.test`, to: 'merges@nodes.test', messageId: `m${p}-c@x.test`, inReplyTo: `m${p}-b@x.test` }));
      expect(newer).not.toBe(older);
      pairs.push({ older, newer });
    }
    const send = (node: Node, raw: Buffer) => nodemailer.createTransport({ host: '127.0.0.1', port: node.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ envelope: { from: 'c@x.test', to: ['merges@nodes.test'] }, raw });
    // Per pair, all at once: node 0 merges one way, node 1 the other, and the message that
    // links them arrives at both nodes.
    const outcomes = await Promise.all(pairs.flatMap(({ older, newer }, p) => {
      const link = rawEmail({ from: `p${p}@x.test`, to: 'merges@nodes.test', messageId: `m${p}-b@x.test`, inReplyTo: `m${p}-a@x.test` });
      return [
        api(nodes[0]!, 'POST', `/v1/conversations/${older}/merge`, { conversation_id: newer }),
        api(nodes[1]!, 'POST', `/v1/conversations/${newer}/merge`, { conversation_id: older }),
        send(nodes[0]!, link).then(() => null), send(nodes[1]!, link).then(() => null),
      ];
    }));
    for (const o of outcomes) if (o) expect(o).toMatchObject({ status: 200 });
    for (const [p, { older, newer }] of pairs.entries()) {
      for (const node of nodes) {
        const snapshot = await api(node, 'GET', `/v1/conversations/${newer}`);
        expect(snapshot.body).toMatchObject({ id: older, message_count: 3, unread_count: 3, merged_from: [newer] });
      }
      const merged = await api(nodes[p % 2]!, 'GET', `/v1/events?after=0&types=merged&conversation_id=${newer}`);
      expect(merged.body.data).toHaveLength(1);
      expect(merged.body.data[0].data.into).toBe(older);
    }
    const list = await api(nodes[1]!, 'GET', `/v1/conversations?identity_id=${idn.body.id}&limit=200`);
    expect(list.body.data.map((c: any) => c.id).sort()).toEqual(pairs.map((x) => x.older).sort());
  });

  it('shares the outbound email queue: replies sent through both nodes reach the relay once each', async () => {
    const got: string[] = [];
    let busy = true;
    const relay = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      // The first attempts meet a busy relay, so retries race between the nodes too.
      onRcptTo(_a, _s, callback) { callback(busy ? Object.assign(new Error('4.3.2 busy'), { responseCode: 451 }) : undefined); },
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => { got.push(/^Message-ID: <([^>]+)>/im.exec(Buffer.concat(chunks).toString())![1]!); callback(); });
      },
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (relay.server.address() as { port: number }).port;
      const idn = await api(nodes[0]!, 'POST', '/v1/identities', { handle: 'queue' });
      const box = await api(nodes[0]!, 'POST', '/v1/mailboxes', { identity_id: idn.body.id, address: 'queue@nodes.test', smtp: { host: '127.0.0.1', port } });
      expect(box.status).toBe(201);
      const first = await api(nodes[0]!, 'POST', '/v1/messages', { identity_id: idn.body.id, to: 'q@x.test', subject: 'Queue', text: 'start' });
      const conv = first.body.conversation_id;
      const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => api(nodes[i % 2]!, 'POST', `/v1/conversations/${conv}/messages`, { text: `reply ${i}` })));
      for (const r of sent) expect(r.status).toBe(202);
      const ids = [first.body.message.headers.message_id, ...sent.map((r) => r.body.message.headers.message_id)];
      await new Promise((r) => setTimeout(r, 300));
      busy = false;
      // Deferred messages are due 30 s later; the operator retries them now, through either
      // node, and again for any whose attempt was still meeting the busy relay when listed.
      const deadline = Date.now() + 20_000;
      let nextRetry = 0;
      while (got.length < ids.length && Date.now() < deadline) {
        if (Date.now() >= nextRetry) {
          nextRetry = Date.now() + 1_000;
          const deferred = (await api(nodes[1]!, 'GET', '/v1/outbound?status=deferred&limit=200')).body.data;
          await Promise.all(deferred.map((e: any, i: number) => api(nodes[i % 2]!, 'POST', `/v1/messages/${e.message_id}/retry`)));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up
      expect([...got].sort()).toEqual([...ids].sort());
      const statuses = (await api(nodes[0]!, 'GET', `/v1/conversations/${conv}/messages?limit=200`)).body.data.map((m: any) => m.status);
      expect(statuses).toEqual(Array(ids.length).fill('sent'));
    } finally {
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });

  it('streams to a client of one node what another node commits, well before a heartbeat', async () => {
    const latest = (await listOrgEventsAfter(store.db, { orgId, afterSeq: 0, limit: 100_000 })).at(-1)!.seq;
    const controller = new AbortController();
    const res = await fetch(`${nodes[1]!.base}/v1/events/stream?after=${latest}`, { headers: { authorization: `Bearer ${key}` }, signal: controller.signal });
    const received: { id?: string; event?: string; at: number }[] = [];
    const parser = createParser({ onEvent: (m) => received.push({ id: m.id, event: m.event, at: Date.now() }) });
    const pump = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
      } catch { /* aborted */ }
    })();
    await new Promise((r) => setTimeout(r, 300)); // the stream is caught up and waiting
    const sentAt = Date.now();
    await nodemailer.createTransport({ host: '127.0.0.1', port: nodes[0]!.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ envelope: { from: 'n@x.test', to: ['desk@nodes.test'] }, raw: rawEmail({ from: 'n@x.test', to: 'desk@nodes.test', messageId: 'notify-1@x.test' }) });
    const deadline = Date.now() + 5_000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    await pump;
    expect(received).toHaveLength(1);
    expect(received[0]!.event).toBe('message');
    expect(Number(received[0]!.id)).toBe(latest + 1);
    expect(received[0]!.at - sentAt).toBeLessThan(loadConfig({}, {}).streamHeartbeatMs / 3);
  });

  it('lets a reader page a timeline and the ordered event read while both nodes write, seeing each event once, in order', async () => {
    const first = await api(nodes[0]!, 'POST', '/v1/messages', { identity_id: (await api(nodes[0]!, 'GET', '/v1/identities')).body.data[0].id, to: 'r@x.test', subject: 'Busy', text: 'start' });
    const conv = first.body.conversation_id;
    const startSeq = (await listOrgEventsAfter(store.db, { orgId, afterSeq: 0, limit: 100_000 })).at(-1)!.seq;
    const WRITES = 40;
    let writing = true;
    const writers = Promise.all(nodes.map(async (node, n) => {
      for (let i = 0; i < WRITES; i++) {
        const res = await api(node, 'POST', `/v1/conversations/${conv}/labels`, { labels: [`n${n}-${i}`] });
        expect(res.status).toBe(200);
      }
    })).finally(() => { writing = false; });

    const seenTimeline: any[] = [];
    const seenFeed: any[] = [];
    let cursor: string | null = null;
    let afterSeq = startSeq;
    const readOnce = async () => {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const pageRes = await api(nodes[1]!, 'GET', `/v1/conversations/${conv}/events?limit=7${q}`);
      seenTimeline.push(...pageRes.body.data);
      cursor = pageRes.body.next_cursor ?? cursor;
      const feed = await listOrgEventsAfter(store.db, { orgId, afterSeq, limit: 5 });
      seenFeed.push(...feed);
      afterSeq = feed.at(-1)?.seq ?? afterSeq;
    };
    while (writing) await readOnce();
    await writers;
    for (let i = 0; i < 40; i++) await readOnce(); // drain

    const allTimeline = (await api(nodes[0]!, 'GET', `/v1/conversations/${conv}/events?limit=200`)).body.data;
    expect(allTimeline.filter((e: any) => e.type === 'label_added')).toHaveLength(2 * WRITES);
    expect(seenTimeline.map((e) => e.id)).toEqual(allTimeline.map((e: any) => e.id));
    const allFeed = await listOrgEventsAfter(store.db, { orgId, afterSeq: startSeq, limit: 100_000 });
    expect(seenFeed.map((e) => e.id)).toEqual(allFeed.map((e) => e.id));
    expect(allFeed.map((e) => e.seq)).toEqual(allFeed.map((_, i) => startSeq + 1 + i)); // gap-free
  });

  it('fires each no-reply timer once, though both nodes sweep', async () => {
    const idn = await api(nodes[0]!, 'POST', '/v1/identities', { handle: 'timers' });
    await api(nodes[0]!, 'POST', '/v1/mailboxes', { identity_id: idn.body.id, address: 'timers@nodes.test' });
    const TIMERS = 16;
    const convs = await Promise.all(Array.from({ length: TIMERS }, async (_, i) => {
      const node = nodes[i % 2]!;
      const sent = await api(node, 'POST', '/v1/messages', { identity_id: idn.body.id, to: `p${i}@x.test`, subject: `Ping ${i}`, text: 'Any news?', no_reply_after: 300 });
      expect(sent.status).toBe(202);
      return sent.body.conversation_id as string;
    }));
    const expired = async () => (await api(nodes[1]!, 'GET', '/v1/events?types=no_reply_expired&limit=200')).body.data;
    await expect.poll(async () => (await expired()).length, { timeout: 10_000, interval: 100 }).toBe(TIMERS);
    await new Promise((r) => setTimeout(r, 500)); // more sweeps on both nodes
    const events = await expired();
    expect(events.map((e: any) => e.conversation_id).sort()).toEqual([...convs].sort());
    expect(events.every((e: any) => e.data.waited_ms >= 300)).toBe(true);
  });

  it('delivers each webhook once, though both nodes run the delivery worker', async () => {
    const received: string[] = [];
    const port = await freePort();
    const receiver = http.createServer((req, res) => {
      received.push(String(req.headers['webhook-id']));
      req.resume().on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', r));
    const ep = await api(nodes[0]!, 'POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${port}/`, event_types: ['label_added'] });
    expect(ep.status).toBe(201);
    const conv = (await api(nodes[0]!, 'GET', '/v1/conversations?limit=1')).body.data[0].id;
    const LABELS = 20;
    for (let i = 0; i < LABELS; i++) await api(nodes[i % 2]!, 'POST', `/v1/conversations/${conv}/labels`, { labels: [`hook${i}`] });
    await expect.poll(() => new Set(received).size, { timeout: 10_000, interval: 100 }).toBe(LABELS);
    await new Promise((r) => setTimeout(r, 500));
    expect(received).toHaveLength(LABELS); // no webhook-id twice
    const log = (await api(nodes[1]!, 'GET', `/v1/webhook_endpoints/${ep.body.id}/deliveries?limit=200`)).body.data;
    expect(log.map((d: any) => [d.status, d.attempt_count])).toEqual(Array(LABELS).fill(['succeeded', 1]));
    await new Promise<void>((r) => { receiver.closeAllConnections(); receiver.close(() => r()); });
  });
});

describe.skipIf(SKIP)('nodes starting together on an empty database', () => {
  it('create one first organization between them', async () => {
    const database = await freshDatabase();
    try {
      // Schema first, as deployment does, so the race is on the first organization alone.
      const config = loadConfig({ dataDir: tempDir(), databaseUrl: database.url, logLevel: 'silent', host: '127.0.0.1', port: 0, smtpHost: '127.0.0.1', smtpPort: 0, ...NO_LOAD_SHEDDING }, {});
      await (await openStore(config)).close();
      const servers = await Promise.all(Array.from({ length: 10 }, () => startServer(config)));
      try {
        expect(servers.filter((s) => s.firstRun !== null)).toHaveLength(1);
        expect(await listOrganizations(servers[0]!.store.db)).toHaveLength(1);
      } finally {
        await Promise.all(servers.map((s) => s.close()));
      }
    } finally {
      await database.drop();
    }
  });
});
