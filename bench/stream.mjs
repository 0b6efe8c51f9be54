/**
 * Live-stream latency: SUBSCRIBERS Server-Sent Events clients on one server (embedded
 * SQLite; the subscribers in a child process), MESSAGES delivered over SMTP at RATE per second; for each message, the time
 * from the start of its SMTP transaction (connection already open)
 * to its arrival at each subscriber, so it includes parsing and the commit (DNS lookups of mail authentication
 * answered by a loopback responder, bench/dns-responder.mjs). Prints JSON with p50/p99 (ms)
 * and whether every subscriber got every message. One unmeasured message goes first.
 *
 * Environment: STREAM_SUBSCRIBERS (1000), STREAM_MESSAGES (100), STREAM_RATE (10/s).
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createParser } from 'eventsource-parser';
import nodemailer from 'nodemailer';
import { startDnsResponder } from './dns-responder.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { loadConfig } = await import(path.join(ROOT, 'dist/config.js'));
const { startServer } = await import(path.join(ROOT, 'dist/server.js'));
const SUBSCRIBERS = Number(process.env.STREAM_SUBSCRIBERS ?? 1000);
const MESSAGES = Number(process.env.STREAM_MESSAGES ?? 100);
const RATE = Number(process.env.STREAM_RATE ?? 10);

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

export async function streamLatency() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-stream-'));
  // SPF and DMARC lookups go to a loopback responder (NXDOMAIN at once, as a caching
  // resolver would answer): this machine's own DNS takes 50 ms to a second, which would
  // measure the network instead of the stream.
  const dns = await startDnsResponder();
  const server = await startServer(loadConfig({
    dataDir, host: '127.0.0.1', port: 0, smtpHost: '127.0.0.1', smtpPort: 0, logLevel: 'silent', dnsServers: [dns.address],
  }, {}));
  const key = server.firstRun.apiKey;
  const api = (method, p, body) => fetch(`http://127.0.0.1:${server.port}${p}`, {
    method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  }).then((r) => r.json());
  const idn = await api('POST', '/v1/identities', { handle: 'bench' });
  await api('POST', '/v1/mailboxes', { identity_id: idn.id, address: 'bench@stream.test' });

  // Subscribers start after the last event so far: they only see what is sent from now on.
  let after = 0;
  for (let page = await api('GET', '/v1/events?limit=200'); ; page = await api('GET', `/v1/events?limit=200&after=${after}`)) {
    after = page.next_after;
    if (!page.has_more) break;
  }
  // The subscribers run in a child process, as remote clients would: the server's
  // process does only the server's work. Times are absolute (timeOrigin + now), which
  // two processes on one machine share.
  const child = fork(fileURLToPath(import.meta.url), ['--subscribers'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const fromChild = (type) => new Promise((resolve) => child.on('message', (m) => { if (m.type === type) resolve(m); }));
  child.send({ type: 'connect', port: server.port, key, after, subscribers: SUBSCRIBERS });
  await fromChild('connected');
  const sentAt = new Map(); // Message-ID -> absolute ms
  const acks = []; // ms from the start of each SMTP transaction to its 250
  const now = () => performance.timeOrigin + performance.now();
  const smtp = nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity });
  // One unmeasured message first: opens the SMTP connection and warms up the code paths.
  await smtp.sendMail({ envelope: { from: 'warm@x.test', to: ['bench@stream.test'] }, raw: Buffer.from('From: warm@x.test\r\nTo: bench@stream.test\r\nSubject: warm-up\r\nMessage-ID: <warm@bench.test>\r\n\r\nwarm\r\n') });
  await new Promise((r) => setTimeout(r, 500));
  for (let n = 0; n < MESSAGES; n++) {
    const id = `stream-${n}@bench.test`;
    const raw = Buffer.from(`From: s${n}@x.test\r\nTo: bench@stream.test\r\nSubject: n${n}\r\nMessage-ID: <${id}>\r\n\r\nbody ${n}\r\n`);
    const start = now();
    sentAt.set(id, start);
    await smtp.sendMail({ envelope: { from: `s${n}@x.test`, to: ['bench@stream.test'] }, raw });
    acks.push(now() - start);
    const wait = 1000 / RATE - (now() - start);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  child.send({ type: 'finish', expected: MESSAGES, deadline_ms: 20_000 });
  const { arrivals } = await fromChild('arrivals'); // per subscriber: [Message-ID, absolute ms][]
  child.disconnect();
  smtp.close();
  const latencies = [];
  const counts = arrivals.map((list) => {
    let n = 0;
    for (const [id, at] of list) {
      const t = sentAt.get(id);
      if (t !== undefined) { latencies.push(at - t); n++; }
    }
    return n;
  });
  await server.close();
  await dns.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return {
    subscribers: SUBSCRIBERS, messages: MESSAGES, rate: RATE,
    delivered: latencies.length, expected: SUBSCRIBERS * MESSAGES,
    missing_subscribers: counts.filter((c) => c !== MESSAGES).length,
    smtp_ack_p50_ms: quantile(acks, 0.5), p50_ms: quantile(latencies, 0.5), p99_ms: quantile(latencies, 0.99), max_ms: Math.max(...latencies),
  };
}

/** The child process: SSE clients that record when each message arrives. */
function runSubscribers() {
  const arrivals = [];
  const requests = [];
  let expected = 0;
  let deadline = Infinity;
  process.on('message', async (m) => {
    if (m.type === 'connect') {
      const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
      let connected = 0;
      for (let i = 0; i < m.subscribers; i++) {
        const list = [];
        arrivals.push(list);
        requests.push(http.get({ host: '127.0.0.1', port: m.port, path: `/v1/events/stream?types=message&after=${m.after}`, agent, headers: { authorization: `Bearer ${m.key}` } }, (res) => {
          const parser = createParser({ onEvent: (e) => {
            const at = performance.timeOrigin + performance.now();
            list.push([JSON.parse(e.data).data.headers.message_id, at]);
          } });
          res.setEncoding('utf8');
          res.on('data', (c) => parser.feed(c));
          if (++connected === m.subscribers) process.send({ type: 'connected' });
        }));
      }
    } else if (m.type === 'finish') {
      expected = m.expected + 1; // and the warm-up
      deadline = Date.now() + m.deadline_ms;
      while (arrivals.some((l) => l.length < expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const r of requests) r.destroy();
      process.send({ type: 'arrivals', arrivals }, () => process.exit(0));
    }
  });
}

if (process.argv.includes('--subscribers')) {
  runSubscribers();
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await streamLatency(), null, 2));
}
