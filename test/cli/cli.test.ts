/**
 * The `switchboard` command line as a user runs it: `node bin/switchboard.js` in a child
 * process (it imports `dist/`, so `npm run build` must have run). Covers `init`,
 * `import` of an mbox, a maildir and a folder of .eml files, `serve` with flags and with
 * environment variables, and bad usage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freePort, freshDatabase, rawEmail, tempDir, TEST_STORE } from '../helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/switchboard.js');
const HAS_BUILD = fs.existsSync(path.join(ROOT, 'dist/cli/main.js'));
const NO_BUILD_REASON = `dist/cli/main.js not found: run \`npm run build\` first (npm test does); skipping`;
if (!HAS_BUILD) console.warn(NO_BUILD_REASON);

/** The key format documented in src/services/tenants.ts: key id, then a 256-bit base64url secret. */
const API_KEY = /^sb_key_[0-9a-z]{26}_[A-Za-z0-9_-]{43}$/;
const ORG_ID = /^org_[0-9a-z]{26}$/;
const MEMBER_ID = /^mem_[0-9a-z]{26}$/;
const IDENTITY = 'a@example.com';

/** On the PostgreSQL project, the database standing in for each data directory. */
const databases = new Map<string, Awaited<ReturnType<typeof freshDatabase>>>();
afterAll(async () => {
  for (const db of databases.values()) await db.drop();
});

/** `DATABASE_URL` for the data directory a command names (PostgreSQL project only). */
async function storeEnv(args: string[], env: Record<string, string>): Promise<Record<string, string>> {
  if (TEST_STORE !== 'postgres') return {};
  const i = args.indexOf('--data-dir');
  const dir = i >= 0 ? args[i + 1] : env.DATA_DIR;
  if (!dir) return {};
  let db = databases.get(dir);
  if (!db) {
    db = await freshDatabase();
    databases.set(dir, db);
  }
  return { DATABASE_URL: db.url! };
}

/** Whether a command created the store of a data directory (the SQLite file, or the PostgreSQL schema). */
async function storeExists(dir: string): Promise<boolean> {
  if (TEST_STORE !== 'postgres') return fs.existsSync(path.join(dir, 'switchboard.db'));
  const db = databases.get(dir);
  if (!db) return false;
  const client = new pg.Client({ connectionString: db.url! });
  await client.connect();
  try {
    const r = await client.query(`select to_regclass('public.organizations') is not null as exists`);
    return r.rows[0].exists === true;
  } finally {
    await client.end();
  }
}

/** The environment of a child, without settings that would leak into the config. */
async function childEnv(args: string[], extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env = { ...process.env };
  for (const k of ['DATA_DIR', 'DATABASE_URL', 'PORT', 'SMTP_PORT', 'HOST', 'SMTP_HOST', 'MAX_MESSAGE_BYTES', 'THREAD_BY_SUBJECT']) delete env[k];
  return { ...env, LOG_LEVEL: 'warn', ...(await storeEnv(args, extra)), ...extra };
}

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

async function run(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Run> {
  const childEnvironment = await childEnv(args, env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnvironment, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`switchboard ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function json(r: Run): any {
  expect(r.stderr, 'stderr').not.toMatch(/Error|error:/);
  const lines = r.stdout.trim().split('\n');
  expect(lines, 'exactly one line of JSON on stdout').toHaveLength(1);
  return JSON.parse(lines[0]!);
}

interface Init { org_id: string; api_key?: string; name: string; created: boolean; owner_member_id: string; organizations: { id: string; name: string }[] }

async function init(dataDir: string, extra: string[] = []): Promise<Init> {
  const r = await run(['init', '--data-dir', dataDir, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return json(r);
}

async function importPath(p: string, dataDir: string, extra: string[] = []) {
  const r = await run(['import', p, '--data-dir', dataDir, '--identity', IDENTITY, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  const report = json(r);
  expect(Object.keys(report).sort()).toEqual(['conversations', 'duplicates', 'failed', 'imported', 'seconds']);
  expect(report.seconds).toEqual(expect.any(Number));
  expect(report.seconds).toBeGreaterThanOrEqual(0);
  return report;
}

/** Two distinct ports nothing listens on. */
async function twoPorts(): Promise<[number, number]> {
  for (;;) {
    const a = await freePort();
    const b = await freePort();
    if (a !== b) return [a, b];
  }
}

/** First line the SMTP listener sends. */
function smtpGreeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = '';
    socket.setTimeout(5_000, () => { socket.destroy(); reject(new Error('no SMTP greeting')); });
    socket.on('data', (c) => {
      buf += c;
      const i = buf.indexOf('\r\n');
      if (i >= 0) {
        socket.end('QUIT\r\n');
        resolve(buf.slice(0, i));
      }
    });
    socket.on('error', reject);
  });
}

interface Served { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

const children = new Set<ChildProcess>();

/** Spawns `serve` and polls GET /readyz until 200 (or the process dies, or the deadline). */
async function serve(args: string[], env: Record<string, string>, httpPort: number, deadlineMs = 20_000): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, env: await childEnv(args, env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => { stdout += c; });
  child.stderr!.on('data', (c) => { stderr += c; });
  let dead = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      dead = true;
      children.delete(child);
      resolve({ code, signal });
    });
  });
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (dead) throw new Error(`serve exited before it was ready\n${stdout}\n${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`serve not ready within ${deadlineMs} ms\n${stdout}\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** SIGTERM, then the exit status (a graceful shutdown exits 0). */
async function stop(s: Served) {
  s.child.kill('SIGTERM');
  const timeout = setTimeout(() => s.child.kill('SIGKILL'), 10_000);
  const status = await s.exited;
  clearTimeout(timeout);
  return status;
}

async function get(port: number, url: string, key: string) {
  const res = await fetch(`http://127.0.0.1:${port}${url}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as any };
}

// ---- test input: mail built here, with known threads and dates ---------------------------

const day = (d: number) => new Date(Date.UTC(2020, 0, d, 10, 0, 0)).toUTCString();
const lf = (b: Buffer) => b.toString('utf8').replace(/\r\n/g, '\n');

const M1 = rawEmail({ from: 'Alice <alice@ext.test>', to: IDENTITY, subject: 'Quarterly numbers', messageId: 'm1@ext.test', date: day(1), body: 'Numbers attached soon.' });
const M2 = rawEmail({ from: IDENTITY, to: 'alice@ext.test', subject: 'Re: Quarterly numbers', messageId: 'm2@example.com', inReplyTo: 'm1@ext.test', references: '<m1@ext.test>', date: day(2), body: 'Thanks Alice.\nFrom now on, send them monthly.' });
const M3 = rawEmail({ from: 'Bob <bob@ext.test>', to: IDENTITY, subject: 'Lunch?', messageId: 'm3@ext.test', date: day(3) });
const X1 = rawEmail({ from: 'Carol <carol@ext.test>', to: IDENTITY, subject: 'Offsite planning', messageId: 'x1@ext.test', date: day(4) });
const X2 = rawEmail({ from: 'Carol <carol@ext.test>', to: IDENTITY, subject: 'Re: Offsite planning', messageId: 'x2@ext.test', inReplyTo: 'x1@ext.test', references: '<x1@ext.test>', date: day(5) });
/** Replies into the mbox's first thread: joins it, opens nothing new. */
const X3 = rawEmail({ from: 'Alice <alice@ext.test>', to: IDENTITY, subject: 'Re: Quarterly numbers', messageId: 'x3@ext.test', inReplyTo: 'm2@example.com', references: '<m1@ext.test> <m2@example.com>', date: day(6) });
const E1 = rawEmail({ from: 'Dave <dave@ext.test>', to: IDENTITY, subject: 'Invoice 42', messageId: 'e1@ext.test', date: day(7) });
const E2 = rawEmail({ from: 'Dave <dave@ext.test>', to: IDENTITY, subject: 'Re: Invoice 42', messageId: 'e2@ext.test', inReplyTo: 'e1@ext.test', references: '<e1@ext.test>', date: day(8) });

/** mbox (RFC 4155): M1, M2, M3, and M1 again; the `From ` line in M2's body is escaped. */
function writeMbox(file: string) {
  const entries = [M1, M2, M3, M1].map((m, i) => {
    const body = lf(m).replace(/^From /gm, '>From ');
    return `From sender${i}@ext.test Mon Jan  6 10:00:00 2020\n${body}${body.endsWith('\n') ? '' : '\n'}\n`;
  });
  fs.writeFileSync(file, entries.join(''));
}

/** maildir: X1 in cur/, X2 and X3 in new/, a half-written file in tmp/ (never read). */
function writeMaildir(dir: string) {
  for (const d of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(path.join(dir, 'cur', '1577872800.M1P1.host:2,S'), X1);
  fs.writeFileSync(path.join(dir, 'new', '1577959200.M2P1.host'), X2);
  fs.writeFileSync(path.join(dir, 'new', '1578045600.M3P1.host'), X3);
  fs.writeFileSync(path.join(dir, 'tmp', '1578045601.M4P1.host'), rawEmail({ from: 'x@ext.test', to: IDENTITY, messageId: 'tmp@ext.test' }));
}

/** .eml folder: E1, E2 and a copy of M3 (already imported from the mbox); other files are ignored. */
function writeEmlFolder(dir: string) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, '01-invoice.eml'), E1);
  fs.writeFileSync(path.join(dir, '02-invoice-reply.EML'), E2);
  fs.writeFileSync(path.join(dir, '03-lunch.eml'), M3);
  fs.writeFileSync(path.join(dir, 'notes.txt'), rawEmail({ from: 'x@ext.test', to: IDENTITY, messageId: 'txt@ext.test' }));
  fs.writeFileSync(path.join(dir, '.hidden.eml'), rawEmail({ from: 'x@ext.test', to: IDENTITY, messageId: 'hidden@ext.test' }));
}

describe.skipIf(!HAS_BUILD)('switchboard CLI', () => {
  const dirs: string[] = [];
  const mkdir = (prefix: string) => {
    const d = tempDir(prefix);
    dirs.push(d);
    return d;
  };
  let input: string;
  let mbox: string;
  let maildir: string;
  let emlFolder: string;

  beforeAll(() => {
    input = mkdir('switchboard-cli-input-');
    mbox = path.join(input, 'archive.mbox');
    maildir = path.join(input, 'Maildir');
    emlFolder = path.join(input, 'eml');
    writeMbox(mbox);
    writeMaildir(maildir);
    writeEmlFolder(emlFolder);
  });

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  describe('init, import, serve on one data dir', () => {
    let dataDir: string;
    let created: Init;

    it('init --json prints {org_id, api_key, name, created, owner_member_id, organizations} and creates the store', async () => {
      dataDir = mkdir('switchboard-cli-data-');
      created = await init(dataDir);
      expect(Object.keys(created).sort()).toEqual(['api_key', 'created', 'name', 'org_id', 'organizations', 'owner_member_id']);
      expect(created.org_id).toMatch(ORG_ID);
      expect(created.api_key).toMatch(API_KEY);
      expect(created).toMatchObject({ name: 'default', created: true, organizations: [{ id: created.org_id, name: 'default' }] });
      expect(created.owner_member_id).toMatch(MEMBER_ID);
      expect(await storeExists(dataDir)).toBe(true);
    });

    it('init without --json prints the key for a human', async () => {
      const d = mkdir('switchboard-cli-human-');
      const r = await run(['init', '--data-dir', d]);
      expect(r.code, r.stderr).toBe(0);
      const keys = r.stdout.match(/sb_key_\S+/g) ?? [];
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(API_KEY);
      expect(r.stdout).toContain(TEST_STORE === 'postgres' ? 'PostgreSQL' : d); // where the store is
    });

    it('imports an mbox: counts, threads, an in-file duplicate; a second run is all duplicates', async () => {
      expect(await importPath(mbox, dataDir)).toMatchObject({ imported: 3, duplicates: 1, failed: 0, conversations: 2 });
      expect(await importPath(mbox, dataDir)).toMatchObject({ imported: 0, duplicates: 4, failed: 0, conversations: 0 });
    });

    it('imports a maildir (cur/ and new/, not tmp/); a reply joins the mbox thread; a second run is all duplicates', async () => {
      expect(await importPath(maildir, dataDir)).toMatchObject({ imported: 3, duplicates: 0, failed: 0, conversations: 1 });
      expect(await importPath(maildir, dataDir)).toMatchObject({ imported: 0, duplicates: 3, failed: 0, conversations: 0 });
    });

    it('imports a folder of .eml files (only *.eml, not hidden); mail seen before is a duplicate', async () => {
      expect(await importPath(emlFolder, dataDir)).toMatchObject({ imported: 2, duplicates: 1, failed: 0, conversations: 1 });
      expect(await importPath(emlFolder, dataDir)).toMatchObject({ imported: 0, duplicates: 3, failed: 0, conversations: 0 });
    });

    it('serve --data-dir --port --smtp-port serves the imported conversations with the key from init', async () => {
      const [port, smtpPort] = await twoPorts();
      const s = await serve(['--data-dir', dataDir, '--port', String(port), '--smtp-port', String(smtpPort)], {}, port);
      try {
        expect(await smtpGreeting(smtpPort)).toMatch(/^220 /);
        // An existing store: no new organization, no key printed.
        expect(s.stdout()).not.toMatch(/sb_key_/);

        const unauth = await fetch(`http://127.0.0.1:${port}/v1/conversations`);
        expect(unauth.status).toBe(401);

        const list = await get(port, '/v1/conversations', created.api_key!);
        expect(list.status).toBe(200);
        // Newest activity first: the Date of each thread's latest message (imports keep it).
        expect(list.body.data.map((c: any) => [c.subject, c.message_count, c.counterpart])).toEqual([
          ['Invoice 42', 2, 'dave@ext.test'],
          ['Quarterly numbers', 3, 'alice@ext.test'],
          ['Offsite planning', 2, 'carol@ext.test'],
          ['Lunch?', 1, 'bob@ext.test'],
        ]);
        expect(list.body.has_more).toBe(false);

        const quarterly = list.body.data[1];
        const messages = await get(port, `/v1/conversations/${quarterly.id}/messages`, created.api_key!);
        expect(messages.status).toBe(200);
        expect(messages.body.data.map((m: any) => [m.headers.message_id, m.direction])).toEqual([
          ['m1@ext.test', 'inbound'], ['m2@example.com', 'outbound'], ['x3@ext.test', 'inbound'],
        ]);
        // The mbox `>From ` escape is undone in the stored body.
        expect(messages.body.data[1].text).toContain('\nFrom now on, send them monthly.');
        expect(messages.body.data[0].at).toBe(new Date(day(1)).toISOString());

        const identities = await get(port, '/v1/identities', created.api_key!);
        expect(identities.body.data.map((i: any) => i.handle)).toEqual([IDENTITY]);
        const mailboxes = await get(port, '/v1/mailboxes', created.api_key!);
        expect(mailboxes.body.data.map((m: any) => m.address)).toEqual([IDENTITY]);
      } finally {
        expect(await stop(s)).toEqual({ code: 0, signal: null });
      }
      // The listeners are gone once it has exited.
      await expect(fetch(`http://127.0.0.1:${port}/readyz`)).rejects.toThrow();
    });
  });

  describe('login-link', () => {
    it('serve\'s first start makes an owner member, and login-link prints a one-time link that signs in as them', async () => {
      const dataDir = mkdir('switchboard-cli-login-');
      const [port, smtpPort] = await twoPorts();
      const s = await serve(['--data-dir', dataDir, '--port', String(port), '--smtp-port', String(smtpPort), '--host', '127.0.0.1'], {}, port);
      try {
        const r = await run(['login-link', '--data-dir', dataDir, '--base-url', `http://127.0.0.1:${port}/`, '--json']);
        expect(r.code, r.stderr).toBe(0);
        const link = json(r);
        expect(Object.keys(link).sort()).toEqual(['expires_at', 'member_id', 'org_id', 'url']);
        expect(link.member_id).toMatch(MEMBER_ID);
        expect(link.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/login\\?token=sb_login_[A-Za-z0-9_-]{43}$`));
        const minutes = (Date.parse(link.expires_at) - Date.now()) / 60_000;
        expect(minutes).toBeGreaterThan(14);
        expect(minutes).toBeLessThanOrEqual(15);
        const token = new URL(link.url).searchParams.get('token');
        const signIn = () => fetch(`http://127.0.0.1:${port}/v1/auth/sessions`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }),
        });
        const first = await signIn();
        expect(first.status).toBe(201);
        expect(((await first.json()) as any).member).toMatchObject({ id: link.member_id, role: 'owner' });
        expect((await signIn()).status).toBe(401);
      } finally {
        await stop(s);
      }
      const text = await run(['login-link', '--data-dir', dataDir]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/http:\/\/localhost:8080\/login\?token=sb_login_/);
      const unknown = await run(['login-link', '--data-dir', dataDir, '--member', 'nobody@example.com']);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toMatch(/no member nobody@example\.com/);
      const badUrl = await run(['login-link', '--data-dir', dataDir, '--base-url', 'ftp://x']);
      expect(badUrl.code).not.toBe(0);
      expect(badUrl.stderr).toMatch(/http\(s\) URL/);
    });
  });

  describe('init again, --new-organization, keys from the CLI, on one data dir', () => {
    let dataDir: string;
    let first: Init;
    let second: Init;
    let scoped: { id: string; key: string };
    let revocable: { id: string; key: string };

    it('a second init creates nothing and prints the organization it has (JSON and text)', async () => {
      dataDir = mkdir('switchboard-cli-twice-');
      first = await init(dataDir);
      const again = await init(dataDir, ['--name', 'ignored']);
      expect(again).toEqual({
        org_id: first.org_id, name: 'default', created: false, owner_member_id: first.owner_member_id,
        organizations: [{ id: first.org_id, name: 'default' }],
      });
      const text = await run(['init', '--data-dir', dataDir]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toContain(`organization ${first.org_id} (default)`);
      expect(text.stdout).toMatch(/no organization created/);
      expect(text.stdout).toContain(`switchboard keys create --org ${first.org_id}`);
      expect(text.stdout).not.toMatch(/sb_key_/);
    });

    it('init --new-organization creates a second, separate organization with its own key and owner', async () => {
      second = await init(dataDir, ['--new-organization', '--name', 'acme', '--owner-email', 'boss@acme.example']);
      expect(second).toMatchObject({ name: 'acme', created: true });
      expect(second.api_key).toMatch(API_KEY);
      expect(second.org_id).not.toBe(first.org_id);
      expect(second.owner_member_id).not.toBe(first.owner_member_id);
      expect(second.organizations).toEqual([{ id: first.org_id, name: 'default' }, { id: second.org_id, name: 'acme' }]);
      // Without the flag, the first organization again.
      expect((await init(dataDir)).org_id).toBe(first.org_id);
    });

    it('import then needs --org, and the error lists the organizations', async () => {
      const r = await run(['import', mbox, '--data-dir', dataDir, '--identity', IDENTITY, '--json']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/2 organizations/);
      expect(r.stderr).toMatch(/--org/);
      expect(r.stderr).toMatch(new RegExp(`${first.org_id}\\s+default`));
      expect(r.stderr).toMatch(new RegExp(`${second.org_id}\\s+acme`));
      expect(r.stdout).toBe('');
      const bad = await run(['import', mbox, '--data-dir', dataDir, '--identity', IDENTITY, '--json', '--org', 'org_01h455vb4pex5vsknk084sn02q']);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/no organization org_01h455vb4pex5vsknk084sn02q/);
      expect(bad.stderr).toContain(first.org_id);
      expect(bad.stderr).toContain(second.org_id);
      expect(await importPath(mbox, dataDir, ['--org', first.org_id])).toMatchObject({ imported: 3, duplicates: 1, conversations: 2 });
    });

    it('keys create needs --org here too, then issues a key with the asked scope, printed once', async () => {
      const noOrg = await run(['keys', 'create', '--data-dir', dataDir, '--json']);
      expect(noOrg.code).not.toBe(0);
      expect(noOrg.stderr).toContain(first.org_id);
      expect(noOrg.stderr).toContain(second.org_id);

      const r = await run(['keys', 'create', '--data-dir', dataDir, '--org', first.org_id, '--name', 'reader',
        '--identity', IDENTITY, '--permissions', 'conversations:read', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const k = json(r);
      expect(Object.keys(k).sort()).toEqual(['created_at', 'id', 'identity_id', 'key', 'member_id', 'name', 'org_id', 'permissions']);
      expect(k).toMatchObject({ name: 'reader', org_id: first.org_id, member_id: null, permissions: ['conversations:read'] });
      expect(k.identity_id).toMatch(/^idn_/);
      expect(k.key).toMatch(API_KEY);
      scoped = k;

      const owner = await run(['keys', 'create', '--data-dir', dataDir, '--org', first.org_id, '--member', first.owner_member_id]);
      expect(owner.code, owner.stderr).toBe(0);
      const printed = owner.stdout.match(/sb_key_\S+/g) ?? [];
      expect(printed).toHaveLength(1);
      revocable = { id: printed[0]!.match(/^sb_(key_[0-9a-z]{26})_/)![1]!, key: printed[0]! };
      expect(owner.stdout).toContain(`acting as ${first.owner_member_id}`);
    });

    it('keys create refuses a permission the key could not hold, and bad names, creating nothing', async () => {
      const listed = async () => {
        const r = await run(['keys', 'list', '--data-dir', dataDir, '--org', first.org_id, '--json']);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).not.toMatch(/sb_key_|secret/); // never a secret
        return json(r).data as any[];
      };
      const before = await listed();
      expect(before.map((k) => k.id)).toEqual(expect.arrayContaining([scoped.id, revocable.id]));
      expect(before.find((k) => k.id === scoped.id)).toMatchObject({ name: 'reader', permissions: ['conversations:read'], revoked_at: null });

      const wider = await run(['keys', 'create', '--data-dir', dataDir, '--org', first.org_id, '--identity', IDENTITY, '--permissions', 'conversations:read,members:manage']);
      expect(wider.code).not.toBe(0);
      expect(wider.stderr).toMatch(/cannot hold members:manage/);
      const unknown = await run(['keys', 'create', '--data-dir', dataDir, '--org', first.org_id, '--permissions', 'root']);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toMatch(/Unknown permission root/);
      const stranger = await run(['keys', 'create', '--data-dir', dataDir, '--org', first.org_id, '--member', second.owner_member_id]);
      expect(stranger.code).not.toBe(0);
      expect(stranger.stderr).toMatch(/not a member/);
      expect(wider.stdout + unknown.stdout + stranger.stdout).toBe('');
      expect(await listed()).toHaveLength(before.length);
    });

    it('serve configured by DATA_DIR, PORT and SMTP_PORT: each key sees only its organization, CLI keys with their scope', async () => {
      const [port, smtpPort] = await twoPorts();
      const s = await serve([], { DATA_DIR: dataDir, PORT: String(port), SMTP_PORT: String(smtpPort) }, port);
      try {
        expect(await smtpGreeting(smtpPort)).toMatch(/^220 /);
        const mine = await get(port, '/v1/conversations', first.api_key!);
        expect(mine.status).toBe(200);
        expect(mine.body.data.map((c: any) => c.subject).sort()).toEqual(['Lunch?', 'Quarterly numbers']);
        const theirs = await get(port, '/v1/conversations', second.api_key!);
        expect(theirs.status).toBe(200);
        expect(theirs.body.data).toEqual([]);
        // A serve on an existing store creates no organization of its own.
        expect(s.stdout()).not.toMatch(/sb_key_/);

        const read = await get(port, '/v1/conversations', scoped.key);
        expect(read.status).toBe(200);
        expect(read.body.data).toHaveLength(2);
        expect((await get(port, '/v1/members', scoped.key)).status).toBe(200);
        expect((await get(port, '/v1/api_keys', scoped.key)).body.code).toBe('missing_permission');
        const members = await get(port, '/v1/members', revocable.key);
        expect(members.body.data).toEqual([expect.objectContaining({ id: first.owner_member_id, role: 'owner' })]);

        // Revoked from the CLI while the server runs: refused at once.
        const revoke = await run(['keys', 'revoke', revocable.id, '--data-dir', dataDir, '--json']);
        expect(revoke.code, revoke.stderr).toBe(0);
        expect(json(revoke).revoked_at).toEqual(expect.any(String));
        expect((await get(port, '/v1/members', revocable.key)).status).toBe(401);
      } finally {
        expect(await stop(s)).toEqual({ code: 0, signal: null });
      }
    });
  });

  it('serve on an empty data dir creates the first organization and prints its key once', async () => {
    const dataDir = mkdir('switchboard-cli-fresh-');
    const [port, smtpPort] = await twoPorts();
    const s = await serve(['--port', String(port), '--smtp-port', String(smtpPort)], { DATA_DIR: dataDir }, port);
    try {
      const keys = s.stdout().match(/sb_key_\S+/g) ?? [];
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(API_KEY);
      const list = await get(port, '/v1/conversations', keys[0]!);
      expect(list.status).toBe(200);
      expect(list.body.data).toEqual([]);
    } finally {
      expect(await stop(s)).toEqual({ code: 0, signal: null });
    }
    expect(await storeExists(dataDir)).toBe(true);
  });

  it('init honours DATA_DIR', async () => {
    const dataDir = mkdir('switchboard-cli-env-');
    const r = await run(['init', '--json'], { DATA_DIR: dataDir });
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).api_key).toMatch(API_KEY);
    expect(await storeExists(dataDir)).toBe(true);
  });

  it('import reports failed messages on stderr and exits 1', async () => {
    const dataDir = mkdir('switchboard-cli-failed-');
    const folder = mkdir('switchboard-cli-failed-input-');
    fs.writeFileSync(path.join(folder, 'a.eml'), E1);
    fs.writeFileSync(path.join(folder, 'b.eml'), '');
    const r = await run(['import', folder, '--data-dir', dataDir, '--identity', IDENTITY, '--json']);
    // Once (a clean-clone CI run, PostgreSQL project, machine loaded) the process ended by a signal here: say which, and what it wrote.
    expect(r.code, JSON.stringify({ signal: r.signal, stderr: r.stderr.slice(-2000) })).toBe(1);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ imported: 1, duplicates: 0, failed: 1, conversations: 1 });
    expect(r.stderr).toContain(`failed: ${path.join(folder, 'b.eml')}`);
  });

  describe.concurrent('bad usage exits non-zero with a message on stderr', () => {
    it('import without PATH', async () => {
      const dataDir = mkdir('switchboard-cli-bad-');
      const r = await run(['import', '--data-dir', dataDir, '--identity', IDENTITY]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/missing required argument 'path'/);
      expect(r.stdout).toBe('');
      expect(await storeExists(dataDir)).toBe(false);
    });

    it('import of a path that does not exist (and no store is created)', async () => {
      const dataDir = mkdir('switchboard-cli-bad-');
      const missing = path.join(dataDir, 'no-such-archive.mbox');
      const r = await run(['import', missing, '--data-dir', dataDir, '--identity', IDENTITY, '--json']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(missing);
      expect(r.stderr).toMatch(/no such file|ENOENT/i);
      expect(r.stdout).toBe('');
      expect(await storeExists(dataDir)).toBe(false);
    });

    it('import without --identity', async () => {
      const r = await run(['import', mbox, '--data-dir', mkdir('switchboard-cli-bad-')]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/--identity/);
    });

    it('serve with a port that is not a number', async () => {
      const r = await run(['serve', '--data-dir', mkdir('switchboard-cli-bad-'), '--port', 'http']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/port number/);
    });
  });
});
