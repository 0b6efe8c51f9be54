/**
 * What the benchmark scripts share: the repository root, medians, the machine line of
 * the report, progress on stderr, and a timed `switchboard import` into a fresh store.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Benchmark inputs and generated stores (git-ignored). */
export const BENCH = path.join(ROOT, '.bench');

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const log = (msg) => process.stderr.write(`${msg}\n`);

/** docs/benchmarks.md, which the benchmarks write. */
export const REPORT = path.join(ROOT, 'docs', 'benchmarks.md');

/** `markdown` with the section starting at `heading` (to the next `## `) replaced by `lines`, or inserted before `before`. */
export function replaceSection(markdown, heading, lines, before = '## Where the time goes') {
  const all = markdown.split('\n');
  const start = all.indexOf(heading);
  const body = lines.at(-1) === '' ? lines : [...lines, ''];
  if (start !== -1) {
    let end = all.findIndex((l, k) => k > start && l.startsWith('## '));
    if (end === -1) end = all.length;
    return [...all.slice(0, start), ...body, ...all.slice(end)].join('\n');
  }
  const at = all.indexOf(before);
  return at === -1 ? [...all, '', ...body].join('\n') : [...all.slice(0, at), ...body, ...all.slice(at)].join('\n');
}

/** The section starting at `heading` as `file` has it now, as lines (empty when absent). */
export function currentSection(heading, file = REPORT) {
  if (!fs.existsSync(file)) return [];
  const all = fs.readFileSync(file, 'utf8').split('\n');
  const start = all.indexOf(heading);
  if (start === -1) return [];
  const end = all.findIndex((l, k) => k > start && l.startsWith('## '));
  return all.slice(start, end === -1 ? all.length : end);
}

/** CPU model, cores, RAM, OS and Node version, for the report. */
export function machine() {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, `
    + `${os.type()} ${os.release()}, Node ${process.version}`;
}

/** The PostgreSQL server benchmarks may create databases on, or null. */
export const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? null;

/** Runs a command; @returns wall seconds, stdout and the peak RSS (MiB) the probe reported. */
export function run(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      const rss = /BENCH_MAXRSS_KB (\d+)/.exec(stderr);
      resolve({ seconds, stdout, maxRssMiB: rss ? Number(rss[1]) / 1024 : null });
    });
  });
}

/** Runs a statement on the PostgreSQL server of `url`. */
export async function pgAdmin(text, url = PG_URL) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try { await client.query(text); } finally { await client.end(); }
}

export async function pgServerVersion(url = PG_URL) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try { return (await client.query('show server_version')).rows[0].server_version; } finally { await client.end(); }
}

/**
 * `switchboard import` into a fresh store: SQLite in a temporary directory, or a new
 * PostgreSQL database on `pgUrl`; dropped afterwards. Only the import process is timed.
 *
 * @param options.identity the importing identity's address (`bench@example.com`).
 * @param options.root the checkout whose bin/switchboard.js runs (this one; another for a baseline).
 * @param options.init run `switchboard init` first (untimed), so the import finds the organization.
 * @param options.inspect called with `{ dataDir, databaseUrl }` after the import, before the store is dropped; its result is returned as `inspected`.
 * @param options.env extra environment of the child processes.
 */
export async function switchboardImport(maildir, store = 'sqlite', options = {}) {
  const { identity = 'bench@example.com', root = ROOT, init = false, inspect = null, env = {}, pgUrl = PG_URL } = options;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-'));
  const dbName = `sb_bench_${process.pid}_${Date.now()}`;
  const target = ['--data-dir', dataDir];
  let databaseUrl = null;
  if (store === 'postgres') {
    await pgAdmin(`create database "${dbName}"`, pgUrl);
    const url = new URL(pgUrl);
    url.pathname = `/${dbName}`;
    databaseUrl = url.toString();
    target.push('--database-url', databaseUrl);
  }
  const bin = path.join(root, 'bin', 'switchboard.js');
  try {
    if (init) await run(process.execPath, [bin, 'init', ...target, '--json'], env);
    const r = await run(process.execPath, [
      '--import', path.join(ROOT, 'bench', 'rss-probe.mjs'), bin,
      'import', maildir, ...target, '--identity', identity, '--json',
    ], env);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1));
    const inspected = inspect ? await inspect({ dataDir, databaseUrl }) : undefined;
    return { ...r, report, inspected };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (store === 'postgres') await pgAdmin(`drop database if exists "${dbName}" with (force)`, pgUrl);
  }
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1): the same seed gives the same sequence. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A TCP port free on loopback now. */
export async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * `switchboard serve` on a benchmark store (`{dataDir}` or `{databaseUrl}`), in its own
 * process, with `extraEnv` over this process's environment; resolves once `/readyz` is 200.
 * The SMTP listener is off unless `options.smtp` (then on a free loopback port).
 * BENCH_SERVE_NODE_ARGS: flags for the server's Node.js (`--cpu-prof --cpu-prof-dir=DIR` profiles it);
 * BENCH_SERVE_STDERR: also copy the server's stderr to this process's.
 *
 * @returns `{base, smtpPort, stop()}` (`smtpPort` null without `options.smtp`).
 * @throws Error when the server exits or is not ready within 120 s (with its stderr).
 */
export async function startServe(store, extraEnv = {}, options = {}) {
  const port = await freePort();
  const smtpPort = options.smtp ? await freePort() : 0;
  const nodeArgs = (process.env.BENCH_SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const childEnv = { ...process.env, ...extraEnv };
  delete childEnv.DATABASE_URL;
  delete childEnv.DATA_DIR;
  const target = store.databaseUrl ? ['--database-url', store.databaseUrl] : ['--data-dir', store.dataDir];
  const child = spawn(process.execPath, [
    ...nodeArgs, path.join(ROOT, 'bin', 'switchboard.js'), 'serve', ...target, '--host', '127.0.0.1', '--port', String(port), '--smtp-port', String(smtpPort),
  ], { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
    if (process.env.BENCH_SERVE_STDERR) process.stderr.write(d);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`switchboard serve exited ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`switchboard serve not ready after 120 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    base,
    smtpPort: smtpPort || null,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
