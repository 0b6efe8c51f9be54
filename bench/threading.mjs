/**
 * `npm run bench:threading` (also a step of `npm run bench`; BENCH_THREADING=0 skips it
 * there): email threading that does not depend on arrival order, and what it costs.
 *
 * A generated corpus (seeded, so the same every time) of BENCH_THREADING_MESSAGES
 * messages in deep threads is written as two maildirs, one in chronological order and
 * one reversed (newest first), and each is imported with `switchboard init` then
 * `switchboard import MAILDIR --identity list@bench.test --json` into a fresh store, the
 * two orders alternating. The import process's wall time is measured; the partition the
 * store ends with (live conversations, each message's conversation) is read from the
 * store itself and compared with the generator's threads and across the orders.
 * Rewrites the "Threading independent of arrival order" section of docs/benchmarks.md.
 *
 * Environment: BENCH_THREADING_MESSAGES (20000), BENCH_THREADING_THREAD_SIZE (40),
 * BENCH_THREADING_OPEN_THREADS (25: threads running at the same time), BENCH_THREADING_SEED (1),
 * BENCH_THREADING_RUNS (3, per order, SQLite), BENCH_THREADING_PG_RUNS (1, per order, on
 * PostgreSQL when BENCH_DATABASE_URL or TEST_DATABASE_URL names a server; 0 skips),
 * BENCH_THREADING_BASELINE (a built checkout of another commit, e.g. a git worktree of
 * the commit before merging existed: its import of the in-order maildir is timed in the
 * same runs, alternating with this one's, and its import of the reversed one is judged
 * once per store), BENCH_THREADING_BASELINE_LABEL (its name in the report; default its
 * short commit hash), BENCH_THREADING_BASELINE_WHAT (what sets it apart, in the report's
 * words; default `before merges`).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  prng, BENCH, currentSection, log, machine, median, PG_URL, pgServerVersion, replaceSection, REPORT, ROOT, switchboardImport,
} from './common.mjs';
import { writeMaildir } from './corpus.mjs';

const env = process.env;
const MESSAGES = Number(env.BENCH_THREADING_MESSAGES ?? 20_000);
const THREAD_SIZE = Number(env.BENCH_THREADING_THREAD_SIZE ?? 40);
const OPEN_THREADS = Number(env.BENCH_THREADING_OPEN_THREADS ?? 25);
const SEED = Number(env.BENCH_THREADING_SEED ?? 1);
const RUNS = Number(env.BENCH_THREADING_RUNS ?? 3);
const PG_RUNS = Number(env.BENCH_THREADING_PG_RUNS ?? 1);
const BASELINE = env.BENCH_THREADING_BASELINE ? path.resolve(env.BENCH_THREADING_BASELINE) : null;
const BASELINE_WHAT = env.BENCH_THREADING_BASELINE_WHAT ?? 'before merges';

export const SECTION = '## Threading independent of arrival order';
/** The importing identity's address: every message is sent to it. */
export const LIST_ADDRESS = 'list@bench.test';
/** Bumped whenever the generator's output changes, so cached maildirs are not reused. */
const GENERATOR_VERSION = 1;

/** A reply's parent is the message just before it with this probability, an earlier one otherwise. */
const P_PARENT_PREVIOUS = 0.8;
/** How replies write their references: the share of each kind (the rest: In-Reply-To only). */
const P_FULL_REFERENCES = 0.55;
const P_TRIMMED_REFERENCES = 0.25;

// ---------------------------------------------------------------------------------------
// The corpus


const WORDS = (
  'the build fails on arm64 after the last merge and the cache key looks stale so I tried a clean checkout '
  + 'with the patch applied but the test still times out while the server waits for the lock which we never release '
  + 'when the connection drops during the upgrade could you send the logs from both nodes and the exact version'
).split(' ');

/** RFC 5322 date-time (`Mon, 05 Jan 2026 08:00:00 +0000`). */
const rfc5322Date = (ms) => new Date(ms).toUTCString().replace('GMT', '+0000');

/** A header whose value is a list of ids, folded one id per line (References can exceed 998 characters). */
const idsHeader = (name, ids) => `${name}: ${ids.map((id) => `<${id}>`).join('\r\n ')}`;

/**
 * Generates the corpus: `messages` messages in threads of `threadSize` (the last one may
 * be shorter), at most `openThreads` of them running at a time, interleaved at random and
 * in chronological order (Date increases). A reply's parent is the message before it in
 * its thread most of the time, an earlier one otherwise (a branch). Every reply carries
 * In-Reply-To (its parent); References are, at random, the parent's References (or, when
 * the parent has none, its In-Reply-To, RFC 5322 section 3.6.4) followed by the parent's
 * id; that list trimmed to its first id and the last 2 or 3; or absent. Replies without
 * References (and their descendants' lists, which then start below the root) are what
 * make reversed order need merges.
 *
 * @returns the messages in chronological order: `{ id, thread, raw }` (id without angle brackets), and counts.
 */
export function generateCorpus({ messages = MESSAGES, threadSize = THREAD_SIZE, openThreads = OPEN_THREADS, seed = SEED } = {}) {
  const rand = prng(seed);
  const pick = (n) => Math.floor(rand() * n);
  const threadCount = Math.ceil(messages / threadSize);
  const sizes = Array.from({ length: threadCount }, (_, t) => Math.min(threadSize, messages - t * threadSize));
  const threads = sizes.map(() => []);
  const counts = { roots: 0, full: 0, trimmed: 0, inReplyToOnly: 0, branches: 0 };
  const out = [];
  const open = [];
  let nextThread = 0;
  let at = Date.UTC(2026, 0, 5, 8, 0, 0);
  while (out.length < messages) {
    while (open.length < openThreads && nextThread < threadCount) open.push(nextThread++);
    const slot = pick(open.length);
    const t = open[slot];
    const members = threads[t];
    const i = members.length;
    at += (30 + pick(870)) * 1000;
    const id = `t${String(t).padStart(4, '0')}.m${String(i).padStart(3, '0')}.${Math.floor(rand() * 2 ** 32).toString(16).padStart(8, '0')}@mail.bench.test`;
    const m = { id, thread: t, inReplyTo: null, references: [], at, words: Array.from({ length: 8 + pick(24) }, () => WORDS[pick(WORDS.length)]) };
    if (i === 0) {
      counts.roots++;
    } else {
      const parent = i === 1 || rand() < P_PARENT_PREVIOUS ? members[i - 1] : members[pick(i - 1)];
      if (parent !== members[i - 1]) counts.branches++;
      const chain = [...(parent.references.length ? parent.references : parent.inReplyTo ? [parent.inReplyTo] : []), parent.id];
      m.inReplyTo = parent.id;
      m.parent = parent;
      const kind = rand();
      if (kind < P_FULL_REFERENCES) {
        m.references = chain;
        counts.full++;
      } else if (kind < P_FULL_REFERENCES + P_TRIMMED_REFERENCES) {
        const keep = 2 + pick(2);
        m.references = chain.length > keep + 1 ? [chain[0], ...chain.slice(-keep)] : chain;
        counts.trimmed++;
      } else {
        counts.inReplyToOnly++;
      }
    }
    members.push(m);
    if (members.length === sizes[t]) open.splice(slot, 1);
    const person = `Person ${t}`;
    const address = `person${t}@bench.test`;
    const body = [`Message ${i + 1} of topic ${t}.`, '', m.words.join(' ') + '.', ''];
    if (m.parent) body.push(`On ${rfc5322Date(m.parent.at)}, ${person} wrote:`, `> ${m.parent.words.join(' ')}.`, '');
    const head = [
      `From: ${person} <${address}>`,
      `To: <${LIST_ADDRESS}>`,
      `Subject: ${i === 0 ? '' : 'Re: '}Topic ${t}`,
      `Date: ${rfc5322Date(at)}`,
      `Message-ID: <${id}>`,
      ...(m.inReplyTo ? [idsHeader('In-Reply-To', [m.inReplyTo])] : []),
      ...(m.references.length ? [idsHeader('References', m.references)] : []),
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 7bit',
    ];
    out.push({ id, thread: t, raw: Buffer.from(`${head.join('\r\n')}\r\n\r\n${body.join('\r\n')}`) });
  }
  return { messages: out, threads: threadCount, threadSize, openThreads, seed, counts };
}

/**
 * Writes the corpus as two maildirs under .bench/ (unless there already): chronological
 * and reversed, file names sorting in that order (the import sorts them).
 */
function writeMaildirs(corpus) {
  const key = `threading-n${corpus.messages.length}-t${corpus.threadSize}-o${corpus.openThreads}-s${corpus.seed}-v${GENERATOR_VERSION}`;
  const raws = corpus.messages.map((m) => m.raw);
  const inOrder = path.join(BENCH, `${key}-in-order`);
  const reverse = path.join(BENCH, `${key}-reverse`);
  writeMaildir(inOrder, raws, 1);
  writeMaildir(reverse, [...raws].reverse(), 1);
  return { inOrder, reverse, bytes: raws.reduce((n, r) => n + r.length, 0) };
}

// ---------------------------------------------------------------------------------------
// The partition a store ends with

/** Rows of the store: every message's conversation and Message-ID, live conversations, `merged` events. */
async function readStore({ dataDir, databaseUrl }) {
  const queries = {
    messages: 'select m.conversation_id, e.data from messages m join events e on e.id = m.event_id',
    merged: "select count(*) as n from events where type = 'merged'",
  };
  const liveQuery = (hasMergedInto) => `select id, message_count from conversations${hasMergedInto ? ' where merged_into is null' : ''}`;
  if (databaseUrl) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const hasMergedInto = (await client.query(
        "select 1 from information_schema.columns where table_name = 'conversations' and column_name = 'merged_into'",
      )).rowCount > 0;
      return {
        hasMergedInto,
        messages: (await client.query(queries.messages)).rows,
        live: (await client.query(liveQuery(hasMergedInto))).rows,
        merged: Number((await client.query(queries.merged)).rows[0].n),
      };
    } finally {
      await client.end();
    }
  }
  const db = new Database(path.join(dataDir, 'switchboard.db'), { fileMustExist: true });
  try {
    const hasMergedInto = db.prepare('select name from pragma_table_info(?)').all('conversations').some((c) => c.name === 'merged_into');
    return {
      hasMergedInto,
      messages: db.prepare(queries.messages).all(),
      live: db.prepare(liveQuery(hasMergedInto)).all(),
      merged: Number(db.prepare(queries.merged).get().n),
    };
  } finally {
    db.close();
  }
}

const pairs = (n) => (n * (n - 1)) / 2;

/**
 * Compares the store's partition with the generator's threads.
 *
 * @returns threads found whole and alone in one conversation, pairwise precision and
 *   recall (pairs of messages in one conversation vs in one thread), live conversations,
 *   those whose `message_count` is the number of their messages, `merged` events, and a
 *   hash of the partition (equal hashes: the same partition).
 */
function judge(corpus, rows) {
  const indexOf = new Map(corpus.messages.map((m, k) => [m.id, k]));
  const threadSizes = new Map();
  for (const m of corpus.messages) threadSizes.set(m.thread, (threadSizes.get(m.thread) ?? 0) + 1);
  const byConversation = new Map();
  let unknown = 0;
  for (const row of rows.messages) {
    const id = JSON.parse(row.data)?.headers?.message_id;
    const k = indexOf.get(id);
    if (k === undefined) { unknown++; continue; }
    if (!byConversation.has(row.conversation_id)) byConversation.set(row.conversation_id, []);
    byConversation.get(row.conversation_id).push(k);
  }
  const found = [...byConversation.values()].reduce((n, ks) => n + ks.length, 0);
  let together = 0, predicted = 0, whole = 0;
  for (const ks of byConversation.values()) {
    predicted += pairs(ks.length);
    const cells = new Map();
    for (const k of ks) cells.set(corpus.messages[k].thread, (cells.get(corpus.messages[k].thread) ?? 0) + 1);
    for (const n of cells.values()) together += pairs(n);
    if (cells.size === 1) {
      const [[t, n]] = cells;
      if (n === threadSizes.get(t)) whole++;
    }
  }
  const truePairs = [...threadSizes.values()].reduce((n, s) => n + pairs(s), 0);
  const groups = [...byConversation.values()].map((ks) => ks.sort((a, b) => a - b)).sort((a, b) => a[0] - b[0]);
  const live = new Map(rows.live.map((r) => [r.id, Number(r.message_count)]));
  const counted = [...live].filter(([id, n]) => (byConversation.get(id)?.length ?? 0) === n).length;
  return {
    messages: corpus.messages.length, found, unknown,
    threads: threadSizes.size, whole,
    precision: predicted ? together / predicted : 1, recall: truePairs ? together / truePairs : 1,
    conversationsWithMessages: byConversation.size,
    messagesOutsideLive: [...byConversation].filter(([id]) => !live.has(id)).reduce((n, [, ks]) => n + ks.length, 0),
    live: live.size, counted, merged: rows.merged,
    partition: createHash('sha256').update(groups.map((g) => g.join(',')).join(';')).digest('hex').slice(0, 16),
  };
}

// ---------------------------------------------------------------------------------------
// Runs

/** `text` with its first letter in upper case. */
const capitalized = (text) => text.charAt(0).toUpperCase() + text.slice(1);

export function shortCommit(dir) {
  try { return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD']).toString().trim(); } catch { return path.basename(dir); }
}

/** The measured code: its commit, and whether src/ has changes not committed. */
function codeVersion(dir) {
  try {
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--', 'src']).toString().trim() !== '';
    return `${shortCommit(dir)}${dirty ? ' with uncommitted changes in src/' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** One import of `maildir` into a fresh store, judged. */
async function importOnce(corpus, maildir, store, root = ROOT) {
  const r = await switchboardImport(maildir, store, {
    identity: LIST_ADDRESS, root, init: true, env: { THREAD_BY_SUBJECT: 'false', LOG_LEVEL: 'warn' },
    inspect: async (target) => judge(corpus, await readStore(target)),
  });
  const { report } = r;
  if (report.imported + report.duplicates + report.failed !== corpus.messages.length || report.failed > 0) {
    throw new Error(`import of ${maildir} lost or failed messages: ${JSON.stringify(report)} of ${corpus.messages.length}`);
  }
  return { seconds: r.seconds, maxRssMiB: r.maxRssMiB, report, ...r.inspected };
}

const describe = (x) => `${x.seconds.toFixed(2)} s, ${Math.round(x.messages / x.seconds)} msg/s, ${x.live} live conversations, `
  + `${x.whole}/${x.threads} threads whole, ${x.merged} merged events, partition ${x.partition}`;

/**
 * Runs the benchmark: SQLite, BENCH_THREADING_RUNS times per order (and the baseline
 * checkout's in-order import, and once its reversed one, when given), alternating; then
 * PostgreSQL when configured.
 * @returns the results for {@link threadingSection}.
 */
export async function threadingBenchmark() {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  if (BASELINE && !fs.existsSync(path.join(BASELINE, 'dist', 'cli', 'main.js'))) throw new Error(`${BASELINE}/dist is missing: build the baseline first`);
  const corpus = generateCorpus();
  const dirs = writeMaildirs(corpus);
  log(`threading: ${corpus.messages.length} messages in ${corpus.threads} threads (${JSON.stringify(corpus.counts)}), maildirs ${dirs.inOrder}, ${dirs.reverse}`);
  const baselineLabel = BASELINE ? env.BENCH_THREADING_BASELINE_LABEL ?? shortCommit(BASELINE) : null;

  const stores = [];
  const plan = [['sqlite', RUNS]];
  if (PG_URL && PG_RUNS > 0) plan.push(['postgres', PG_RUNS]);
  else if (PG_RUNS > 0) log('threading: no BENCH_DATABASE_URL / TEST_DATABASE_URL: PostgreSQL is skipped');
  for (const [kind, runs] of plan) {
    const cases = [
      { id: 'in-order', label: 'in order (chronological)', maildir: dirs.inOrder, root: ROOT, runs: [] },
      { id: 'reverse', label: 'reversed (newest first)', maildir: dirs.reverse, root: ROOT, runs: [] },
      ...(BASELINE ? [
        { id: 'baseline', label: `in order, ${BASELINE_WHAT} (${baselineLabel})`, maildir: dirs.inOrder, root: BASELINE, runs: [] },
        // Once: what arrival order did to threading at the baseline.
        { id: 'baseline-reverse', label: `reversed, ${BASELINE_WHAT} (${baselineLabel})`, maildir: dirs.reverse, root: BASELINE, once: true, runs: [] },
      ] : []),
    ];
    for (let run = 1; run <= runs; run++) {
      for (const c of cases) {
        if (c.once && run > 1) continue;
        const r = await importOnce(corpus, c.maildir, kind, c.root);
        c.runs.push(r);
        log(`threading ${kind} run ${run}/${runs}: ${c.label}: ${describe(r)}`);
      }
    }
    stores.push({
      kind,
      store: kind === 'postgres' ? `PostgreSQL ${(await pgServerVersion(PG_URL)).split(' ')[0]}` : 'SQLite',
      cases: cases.map(({ runs: rs, root, ...c }) => {
        const seconds = median(rs.map((r) => r.seconds));
        return {
          ...c, runs: rs, seconds, perSecond: median(rs.map((r) => r.messages / r.seconds)),
          maxRssMiB: median(rs.map((r) => r.maxRssMiB)),
        };
      }),
    });
  }
  const scaleEnv = ['BENCH_THREADING_MESSAGES', 'BENCH_THREADING_THREAD_SIZE', 'BENCH_THREADING_OPEN_THREADS', 'BENCH_THREADING_SEED', 'BENCH_THREADING_RUNS', 'BENCH_THREADING_PG_RUNS', 'BENCH_THREADING_BASELINE', 'BENCH_THREADING_BASELINE_LABEL', 'BENCH_THREADING_BASELINE_WHAT']
    .filter((k) => env[k] !== undefined).map((k) => `${k}=${/^[\w./:,-]*$/.test(env[k]) ? env[k] : `"${env[k]}"`}`);
  // The server's address is left out of the report (it may hold a password).
  const pgEnv = stores.some((st) => st.kind === 'postgres') ? ['BENCH_DATABASE_URL=postgres://…'] : [];
  return {
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
    code: codeVersion(ROOT),
    command: [...pgEnv, ...scaleEnv, 'npm run bench:threading'].join(' '),
    messages: corpus.messages.length, threads: corpus.threads, threadSize: corpus.threadSize, openThreads: corpus.openThreads,
    seed: corpus.seed, counts: corpus.counts, bytes: dirs.bytes, baseline: baselineLabel, baselineWhat: BASELINE_WHAT,
    stores,
  };
}

// ---------------------------------------------------------------------------------------
// The report

const f0 = (x) => Math.round(x).toLocaleString('en-US');
const pct = (n, of) => `${Math.round((100 * n) / of)}%`;

/** The "Threading independent of arrival order" section of docs/benchmarks.md, as lines. */
export function threadingSection(r) {
  const c = r.counts;
  const replies = c.full + c.trimmed + c.inReplyToOnly;
  const ours = (id) => r.stores.flatMap((s) => s.cases.filter((x) => x.id === id).flatMap((x) => x.runs));
  const all = [...ours('in-order'), ...ours('reverse')];
  const partitions = new Set(all.map((x) => x.partition));
  const lines = [
    SECTION,
    '',
    '`npm run bench:threading` (bench/threading.mjs; also a step of `npm run bench`, `BENCH_THREADING=0` skips it), which',
    'rewrites this section.',
    '',
    `- **Date:** ${r.date}`,
    `- **Machine:** ${r.machine}`,
    `- **Code:** ${r.code}`,
    `- **Command:** \`${r.command}\``,
    `- **Input:** ${f0(r.messages)} generated messages (seed ${r.seed}, ${(r.bytes / 2 ** 20).toFixed(1)} MiB) in ${f0(r.threads)} threads of`
      + ` ${r.threadSize}, ${r.openThreads} threads running at a time, interleaved, one sender per thread, all to \`${LIST_ADDRESS}\`.`
      + ` A reply's parent is the message before it in its thread, or an earlier one (${f0(c.branches)} of ${f0(replies)} replies).`
      + ` Every reply has In-Reply-To; References: the parent's References (or its In-Reply-To) and its id in`
      + ` ${pct(c.full, replies)}, that list trimmed to its first id and the last 2 or 3 in ${pct(c.trimmed, replies)}, none in`
      + ` ${pct(c.inReplyToOnly, replies)}. Two maildirs of the same files: chronological, and reversed (newest first).`,
    `- **Import:** \`switchboard init\`, then \`switchboard import MAILDIR --identity ${LIST_ADDRESS} --json\` into a fresh store`
      + ' (a temporary SQLite directory, or a new PostgreSQL database on the same machine); wall time of the import process,'
      + ' start-up included. Orders alternate within a run. The partition is read from the store afterwards: each message\'s'
      + ' conversation (`messages.conversation_id`, the Message-ID from its `message` event) and the live conversations'
      + ' (`merged_into is null`).',
    '',
    '| Store | Order | Runs | Median wall time | Messages/s | Messages/s, each run | Peak RSS | Live conversations | Threads whole | `merged` events |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of r.stores) {
    for (const x of s.cases) {
      const range = (f) => {
        const vs = [...new Set(x.runs.map(f))];
        return vs.length === 1 ? f0(vs[0]) : `${f0(Math.min(...vs))}–${f0(Math.max(...vs))}`;
      };
      lines.push(`| ${s.store} | ${x.label} | ${x.runs.length} | ${x.seconds.toFixed(2)} s | ${f0(x.perSecond)} | ${x.runs.map((y) => f0(y.messages / y.seconds)).join(', ')} | ${f0(x.maxRssMiB)} MiB | ${range((y) => y.live)} | ${range((y) => y.whole)} of ${f0(r.threads)} | ${range((y) => y.merged)} |`);
    }
  }
  lines.push('');
  const ratios = r.stores.map((s) => {
    const get = (id) => s.cases.find((x) => x.id === id);
    const base = get('baseline');
    return `${s.store}: reversed ÷ in order ${(get('reverse').perSecond / get('in-order').perSecond).toFixed(2)}`
      + (base ? `, in order now ÷ ${r.baselineWhat} ${(get('in-order').perSecond / base.perSecond).toFixed(2)}` : '');
  });
  lines.push(`**Rate ratios** (median messages/s): ${ratios.join('; ')}.`, '');
  const befores = r.stores.flatMap((s) => s.cases.filter((x) => x.id === 'baseline').map((x) => `${f0(x.perSecond)} msg/s on ${s.store} (median of ${x.runs.length})`));
  if (befores.length) {
    lines.push(`${capitalized(r.baselineWhat)} (${r.baseline}), in order: ${befores.join(', ')}; measured in the same session, alternating with the runs above`
      + ` (BENCH_THREADING_BASELINE: a \`git worktree\` of ${r.baseline} built with \`npm run build\`).`, '');
  }
  const wholeAll = all.every((x) => x.whole === x.threads && x.found === x.messages && x.live === x.threads && x.messagesOutsideLive === 0);
  const worst = all.reduce((a, x) => (x.whole < a.whole ? x : a), all[0]);
  const minP = Math.min(...all.map((x) => x.precision));
  const minR = Math.min(...all.map((x) => x.recall));
  const countedAll = all.every((x) => x.counted === x.live);
  const mergedRange = (xs) => {
    const vs = [...new Set(xs.map((x) => x.merged))];
    return vs.length === 1 ? f0(vs[0]) : `${f0(Math.min(...vs))} to ${f0(Math.max(...vs))}`;
  };
  lines.push(
    `**Partition:** over the ${all.length} imports of this code (both orders, every store), threads identical to the generator's: `
      + (wholeAll ? `${f0(worst.threads)} of ${f0(worst.threads)} in every import` : `**as few as ${f0(worst.whole)} of ${f0(worst.threads)}**`)
      + ` (lowest pairwise precision ${minP.toFixed(4)}, recall ${minR.toFixed(4)}, over pairs of messages); the two orders give `
      + (partitions.size === 1 ? 'the same partition in every import' : `**${partitions.size} different partitions**`)
      + `. Every live conversation's \`message_count\` equals its number of messages: ${countedAll ? 'yes' : '**no**'}.`
      + ` \`merged\` events per import: ${mergedRange(ours('in-order'))} in order (a reply's parent is always stored before it),`
      + ` ${mergedRange(ours('reverse'))} reversed (a reply that arrives before the message linking it to the rest of its thread`
      + ' starts a conversation, merged when that message arrives).',
    '',
  );
  const baseline = ours('baseline');
  const baselineReverse = r.stores.flatMap((s) => s.cases.filter((x) => x.id === 'baseline-reverse').map((x) => ({ store: s.store, ...x.runs[0] })));
  if (baseline.length) {
    const same = baseline.every((x) => x.partition === [...partitions][0]);
    const reversed = baselineReverse.map((x) => `${f0(x.whole)} of ${f0(x.threads)} threads whole in ${f0(x.live)} conversations`
      + ` on ${x.store} (pairwise recall ${x.recall.toFixed(4)})`);
    lines.push(
      `${capitalized(r.baselineWhat)} (${r.baseline}), the in-order imports give ${same ? 'the same partition' : '**a different partition**'}`
        + (reversed.length ? `; the reversed import (once per store) leaves ${reversed.join(', ')}.` : '.'),
      '',
    );
  }
  return lines;
}

/** The section as docs/benchmarks.md has it now (empty when absent). */
export function currentThreadingSection(file = REPORT) {
  return currentSection(SECTION, file);
}

async function main() {
  const result = await threadingBenchmark();
  fs.writeFileSync(REPORT, replaceSection(fs.readFileSync(REPORT, 'utf8'), SECTION, threadingSection(result)));
  process.stdout.write(`${JSON.stringify(result, (k, v) => (k === 'raw' ? undefined : v), 2)}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  });
}
