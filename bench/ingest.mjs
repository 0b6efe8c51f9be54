/**
 * `npm run bench:ingest` (also a step of `npm run bench`; BENCH_INGEST=0 skips it there):
 * live SMTP ingest under concurrency. BENCH_INGEST_CLIENTS SMTP clients (nodemailer,
 * one connection each, in this process) send messages back to back for
 * BENCH_INGEST_SECONDS to one mailbox of a fresh store served by `switchboard serve` in
 * its own process. Each message is new (its own Message-ID, sender and subject, so its
 * own conversation); the 250 of each is timed from the start of its transaction.
 *
 * Contenders, alternated within each of BENCH_INGEST_RUNS runs:
 * - SQLite, group commit (the default `INGEST_BATCH_MAX` and `INGEST_BATCH_WAIT_MS`), against the baseline
 *   `INGEST_BATCH_MAX=1` (a transaction per message, as before group commit);
 * - with BENCH_DATABASE_URL or TEST_DATABASE_URL: PostgreSQL, one node against two nodes
 *   (two `serve` processes on one database, the clients split between them), one
 *   organization.
 *
 * The server's DNS lookups (SPF, DMARC) go to a responder in this process
 * (bench/dns-responder.mjs, `DNS_SERVERS`), so they measure the server, not the network.
 * Afterwards every acknowledged message must be in the store: the All view's total is
 * compared with the 250s counted (a mismatch fails the benchmark).
 * Rewrites the "Live ingest" section of docs/benchmarks.md.
 *
 * Environment: BENCH_INGEST_CLIENTS (50), BENCH_INGEST_SECONDS (10), BENCH_INGEST_RUNS (3),
 * BENCH_INGEST_STORES (`sqlite,postgres`), BENCH_INGEST_METRICS (unset; set: print the server's
 * store query metrics after each measurement, to see where its time went).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import nodemailer from 'nodemailer';
import { startDnsResponder } from './dns-responder.mjs';
import { log, machine, median, PG_URL, pgAdmin, pgServerVersion, replaceSection, REPORT, ROOT, run, startServe } from './common.mjs';

const env = process.env;
const CLIENTS = Number(env.BENCH_INGEST_CLIENTS ?? 50);
const SECONDS = Number(env.BENCH_INGEST_SECONDS ?? 10);
const RUNS = Number(env.BENCH_INGEST_RUNS ?? 3);
const STORES = (env.BENCH_INGEST_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim());
const MAILBOX = 'ingest@bench.test';
export const SECTION = '## Live ingest';
/** The targets. */
const TARGETS = { sqliteRate: 1000, ackP99Ms: 100, twoNodeRatio: 1.5 };

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};

/** A plain-text message of about 1.5 KB, new in every way (Message-ID, sender, subject). */
function message(client, n) {
  const body = Array.from({ length: 16 }, (_, i) => `Line ${i} of message ${n} from client ${client}: the order shipped, tracking to follow.`).join('\r\n');
  return Buffer.from([
    `From: Customer ${client}-${n} <c${client}-${n}@customers.test>`,
    `To: ${MAILBOX}`,
    `Subject: Order ${client}-${n}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${client}-${n}-${process.pid}@customers.test>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    body,
    '',
  ].join('\r\n'));
}

/** A fresh store: a temporary SQLite directory or a new PostgreSQL database; `drop()` removes it. */
async function freshStore(kind) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ingest-'));
  let databaseUrl = null;
  const dbName = `sb_ingest_${process.pid}_${Date.now()}`;
  if (kind === 'postgres') {
    await pgAdmin(`create database "${dbName}"`);
    const url = new URL(PG_URL);
    url.pathname = `/${dbName}`;
    databaseUrl = url.toString();
  }
  const target = databaseUrl ? ['--database-url', databaseUrl] : ['--data-dir', dataDir];
  const init = await run(process.execPath, [path.join(ROOT, 'bin', 'switchboard.js'), 'init', ...target, '--json']);
  const key = JSON.parse(init.stdout.trim().split('\n').at(-1)).api_key;
  return {
    store: databaseUrl ? { databaseUrl } : { dataDir },
    key,
    async drop() {
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (databaseUrl) await pgAdmin(`drop database if exists "${dbName}" with (force)`);
    },
  };
}

/**
 * One measurement: `nodes` servers on a fresh store with `serverEnv`, CLIENTS SMTP clients
 * sending for SECONDS.
 *
 * @returns `{rate, ackP50, ackP99, acked, refused, stored}`.
 * @throws Error when the store holds a different number of messages than were acknowledged.
 */
async function measure(kind, nodes, serverEnv, dnsAddress) {
  const fresh = await freshStore(kind);
  const servers = [];
  try {
    for (let i = 0; i < nodes; i++) servers.push(await startServe(fresh.store, {
      // Every client connects from loopback: the per-IP connection limit (20) would refuse most.
      LOG_LEVEL: 'warn', RATE_LIMIT_REQUESTS: '0', SMTP_MAX_CONNECTIONS_PER_IP: String(CLIENTS + 10), DNS_SERVERS: dnsAddress, ...serverEnv,
    }, { smtp: true }));
    const api = async (method, p, body) => {
      const res = await fetch(`${servers[0].base}${p}`, {
        method, headers: { authorization: `Bearer ${fresh.key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
      });
      if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    const identity = await api('POST', '/v1/identities', { handle: 'ingest' });
    await api('POST', '/v1/mailboxes', { identity_id: identity.id, address: MAILBOX });
    const transports = Array.from({ length: CLIENTS }, (_, c) => nodemailer.createTransport({
      host: '127.0.0.1', port: servers[c % nodes].smtpPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity,
    }));
    // One unmeasured message per client opens its connection.
    await Promise.all(transports.map((t, c) => t.sendMail({ envelope: { from: `warm${c}@customers.test`, to: [MAILBOX] }, raw: message(c, -1) })));
    const acks = [];
    let refused = 0;
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    await Promise.all(transports.map(async (t, c) => {
      for (let n = 0; performance.now() < deadline; n++) {
        const t0 = performance.now();
        try {
          await t.sendMail({ envelope: { from: `c${c}-${n}@customers.test`, to: [MAILBOX] }, raw: message(c, n) });
          acks.push(performance.now() - t0);
        } catch {
          refused++;
        }
      }
    }));
    const elapsed = (performance.now() - started) / 1000;
    for (const t of transports) t.close();
    if (env.BENCH_INGEST_METRICS) {
      const text = await (await fetch(`${servers[0].base}/metrics`)).text();
      log(text.split('\n').filter((l) => /store_query_duration_seconds_(sum|count)|event_loop_utilization|ingest_messages_total/.test(l)).join('\n'));
    }
    const counts = await api('GET', '/v1/views/counts');
    const stored = counts.data.find((v) => v.name === 'All')?.total ?? NaN;
    const expected = acks.length + CLIENTS; // the warm-up messages too
    if (stored !== expected) throw new Error(`ingest: ${expected} messages acknowledged with 250 but ${stored} conversations stored`);
    return { rate: acks.length / elapsed, ackP50: quantile(acks, 0.5), ackP99: quantile(acks, 0.99), acked: acks.length, refused, stored };
  } finally {
    for (const s of servers) await s.stop();
    await fresh.drop();
  }
}

const fmt = (x, d = 1) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

/** Runs the contenders of every store; @returns the rows and the markdown lines of the section. */
export async function ingestBenchmark() {
  const contenders = [];
  if (STORES.includes('sqlite')) {
    contenders.push({ id: 'sqlite-group', label: 'SQLite, group commit (default `INGEST_BATCH_MAX`, `INGEST_BATCH_WAIT_MS`)', kind: 'sqlite', nodes: 1, env: {} });
    contenders.push({ id: 'sqlite-single', label: 'SQLite, a transaction per message (`INGEST_BATCH_MAX=1`, baseline)', kind: 'sqlite', nodes: 1, env: { INGEST_BATCH_MAX: '1' } });
  }
  let pgVersion = null;
  if (STORES.includes('postgres') && PG_URL) {
    pgVersion = await pgServerVersion();
    contenders.push({ id: 'pg-1', label: `PostgreSQL ${pgVersion.split(' ')[0]}, one node, group commit`, kind: 'postgres', nodes: 1, env: {} });
    contenders.push({ id: 'pg-1-single', label: `PostgreSQL ${pgVersion.split(' ')[0]}, one node, a transaction per message (\`INGEST_BATCH_MAX=1\`)`, kind: 'postgres', nodes: 1, env: { INGEST_BATCH_MAX: '1' } });
    contenders.push({ id: 'pg-2', label: `PostgreSQL ${pgVersion.split(' ')[0]}, two nodes, group commit (one organization, clients split)`, kind: 'postgres', nodes: 2, env: {} });
  } else if (STORES.includes('postgres')) log('ingest: no BENCH_DATABASE_URL / TEST_DATABASE_URL: PostgreSQL is skipped');
  const results = new Map(contenders.map((c) => [c.id, []]));
  const dns = await startDnsResponder();
  for (let r = 0; r < RUNS; r++) {
    for (const c of r % 2 ? [...contenders].reverse() : contenders) {
      const m = await measure(c.kind, c.nodes, c.env, dns.address);
      log(`ingest: run ${r + 1}, ${c.id}: ${fmt(m.rate, 0)} msg/s, 250 p50 ${fmt(m.ackP50)} ms, p99 ${fmt(m.ackP99)} ms, ${m.acked} acknowledged, ${m.refused} refused`);
      results.get(c.id).push(m);
    }
  }
  await dns.close();
  const rows = contenders.map((c) => {
    const ms = results.get(c.id);
    return { ...c, runs: ms, rate: median(ms.map((m) => m.rate)), ackP50: median(ms.map((m) => m.ackP50)), ackP99: median(ms.map((m) => m.ackP99)) };
  });
  const row = (id) => rows.find((x) => x.id === id);
  const lines = [
    SECTION,
    '',
    '`npm run bench:ingest` (bench/ingest.mjs; also a step of `npm run bench`), which rewrites this section.',
    '',
    `- **Date:** ${new Date().toISOString().slice(0, 10)}`,
    `- **Machine:** ${machine()}`,
    '- **Command:** `npm run bench:ingest`',
    `- **Load:** ${CLIENTS} SMTP clients (nodemailer, one connection each, in the benchmark's process) send back to back for ${SECONDS} s to one mailbox of a fresh store, served by \`switchboard serve\` in its own process (defaults, but \`LOG_LEVEL=warn\` and \`SMTP_MAX_CONNECTIONS_PER_IP\` above the client count: every client connects from loopback). Every message is new: its own Message-ID, sender and subject, so its own conversation, about 1.5 KB of text. The server's DNS (\`DNS_SERVERS\`) is a responder in the benchmark's process (bench/dns-responder.mjs) that answers every SPF and DMARC lookup at once with NXDOMAIN, as a caching resolver would; this machine's own DNS drops a query now and then and answers it a second later, which would measure the network instead. ${RUNS} runs, contenders alternated within each; medians of the runs. "250" is the time from the start of a message's SMTP transaction to its \`250\`, which is sent after the message's commit.`,
    '- **Check:** after each measurement the All view\'s total equals the number of messages acknowledged (else the benchmark fails).',
    '',
    '| Contender | Messages/s | Messages/s, each run | 250, p50 | 250, p99 |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((x) => `| ${x.label} | ${fmt(x.rate, 0)} | ${x.runs.map((m) => fmt(m.rate, 0)).join(', ')} | ${fmt(x.ackP50)} ms | ${fmt(x.ackP99)} ms |`),
    '',
  ];
  const group = row('sqlite-group'), single = row('sqlite-single');
  if (group && single) {
    const met = group.rate >= TARGETS.sqliteRate && group.ackP99 < TARGETS.ackP99Ms;
    lines.push(`**SQLite:** group commit ingests ${fmt(group.rate / single.rate, 2)}× the baseline's rate. Target ≥ ${fmt(TARGETS.sqliteRate, 0)} msg/s with 250 p99 under ${TARGETS.ackP99Ms} ms: **${met ? 'met' : 'not met'}** (${fmt(group.rate, 0)} msg/s, p99 ${fmt(group.ackP99)} ms).`);
  }
  const one = row('pg-1'), two = row('pg-2');
  if (one && two) {
    const ratio = two.rate / one.rate;
    const single = row('pg-1-single');
    lines.push('', `**PostgreSQL:** two nodes ingest ${fmt(ratio, 2)}× one node's rate. Target ≥ ${TARGETS.twoNodeRatio}×: **${ratio >= TARGETS.twoNodeRatio ? 'met' : 'not met'}**.`
      + (single ? ` On one node, group commit ingests ${fmt(one.rate / single.rate, 2)}× the rate of a transaction per message.` : ''));
  }
  lines.push('');
  return { rows, lines };
}

async function main() {
  const { lines } = await ingestBenchmark();
  const markdown = replaceSection(fs.readFileSync(REPORT, 'utf8'), SECTION, lines);
  fs.writeFileSync(REPORT, markdown);
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
