/**
 * Test harness: a fresh store in a temporary data directory, the app (in-process,
 * `app.inject`), and an organization with its key.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildApp, type Api } from '../src/api/app.js';
import type { Clock } from '../src/clock.js';
import type { DnsResolver } from '../src/email/authentication.js';
import { zone } from './dns.js';
import { loadConfig, type Config, type ConfigOverrides } from '../src/config.js';
import type { ChannelAdapters } from '../src/services/send-channel.js';
import { createOrganization } from '../src/services/tenants.js';
import { openStore } from '../src/store/open.js';
import type { Store } from '../src/store/store.js';

export const SHARED = path.resolve(import.meta.dirname, '../../shared');
export const CORPUS = path.join(SHARED, 'corpus');
export const HAS_CORPUS = fs.existsSync(CORPUS);
export const NO_CORPUS_REASON = `real-mail corpus not found at ${CORPUS} (../shared/corpus); skipping`;

/** Which store this test run uses: the `postgres` Vitest project sets it (see vitest.config.ts). */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.SWITCHBOARD_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/**
 * A fresh, empty database for one store: on PostgreSQL a new database on the server of
 * `TEST_DATABASE_URL` (so test files run in parallel without sharing rows), dropped by
 * `drop()`; on SQLite nothing (`url` is null and the data directory holds the store).
 */
export async function freshDatabase(): Promise<{ url: string | null; drop(): Promise<void> }> {
  if (TEST_STORE !== 'postgres') return { url: null, drop: async () => {} };
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error('the postgres test project needs TEST_DATABASE_URL');
  const name = `sb_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const adminQuery = async (text: string) => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try { await client.query(text); } finally { await client.end(); }
  };
  await adminQuery(`create database "${name}"`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => adminQuery(`drop database if exists "${name}" with (force)`) };
}

/** A loopback TCP port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export function tempDir(prefix = 'switchboard-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface Harness {
  readonly store: Store;
  readonly app: Api;
  readonly config: Config;
  readonly orgId: string;
  readonly key: string;
  /** JSON request with the org's key; returns status, parsed body and headers. */
  request(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  /** A second organization's key, for isolation tests. */
  otherOrg(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Load shedding off (`HTTP_MAX_EVENT_LOOP_DELAY_MS`, `HTTP_MAX_HEAP_USED_BYTES` 0): a test
 * machine busy with parallel test files lags more than a second at times, which would
 * answer 503 to requests that test something else. test/e2e/http-limits.test.ts sets them.
 */
export const NO_LOAD_SHEDDING = { httpMaxEventLoopDelayMs: 0, httpMaxHeapUsedBytes: 0 } as const;

export async function harness(overrides: ConfigOverrides = {}, options: { clock?: Clock; channels?: ChannelAdapters; resolver?: DnsResolver } = {}): Promise<Harness> {
  const dataDir = tempDir();
  const database = await freshDatabase();
  // The fake providers and webhook receivers of the tests listen on loopback.
  const config = loadConfig({ dataDir, databaseUrl: database.url, logLevel: 'silent', outboundAllowPrivate: true, ...NO_LOAD_SHEDDING, ...overrides }, {});
  const store = await openStore(config);
  // DNS served by the test (nothing by default), so mail authentication runs offline.
  const app = await buildApp({ store, config, logger: false, isReady: () => true, clock: options.clock, channels: options.channels, resolver: options.resolver ?? zone() });
  await app.ready();
  const { orgId, apiKey } = await createOrganization(store, 'test');
  const request: Harness['request'] = async (method, url, body, headers = {}) => {
    const res = await app.inject({
      method: method as any,
      url,
      headers: { authorization: `Bearer ${apiKey.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      payload: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
    let parsed: unknown = res.body;
    try { parsed = JSON.parse(res.body); } catch { /* not JSON */ }
    return { status: res.statusCode, body: parsed, headers: res.headers };
  };
  return {
    store, app, config, orgId, key: apiKey.key, request,
    otherOrg: async () => (await createOrganization(store, 'other')).apiKey.key,
    async close() {
      await app.close();
      await store.close();
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Builds a small RFC 5322 message. */
export function rawEmail(h: {
  from: string; to: string; subject?: string; messageId?: string; inReplyTo?: string; references?: string;
  date?: string; body?: string; extraHeaders?: string[];
}): Buffer {
  const lines = [
    `From: ${h.from}`,
    `To: ${h.to}`,
    `Subject: ${h.subject ?? 'Hello'}`,
    `Date: ${h.date ?? 'Mon, 16 Nov 2009 10:00:00 +0000'}`,
    ...(h.messageId ? [`Message-ID: <${h.messageId}>`] : []),
    ...(h.inReplyTo ? [`In-Reply-To: <${h.inReplyTo}>`] : []),
    ...(h.references ? [`References: ${h.references}`] : []),
    ...(h.extraHeaders ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    h.body ?? 'Hi there.',
    '',
  ];
  return Buffer.from(lines.join('\r\n'));
}

/** Creates an identity with one mailbox through the API; returns their ids. */
export async function identityWithMailbox(h: Harness, address: string, handle = address.split('@')[0]!): Promise<{ identityId: string; mailboxId: string }> {
  const idn = await h.request('POST', '/v1/identities', { handle });
  if (idn.status !== 201) throw new Error(`identity: ${idn.status} ${JSON.stringify(idn.body)}`);
  const mbx = await h.request('POST', '/v1/mailboxes', { identity_id: idn.body.id, address });
  if (mbx.status !== 201) throw new Error(`mailbox: ${mbx.status} ${JSON.stringify(mbx.body)}`);
  return { identityId: idn.body.id, mailboxId: mbx.body.id };
}

/** Uploads raw mail to `POST /v1/inbound/email`. */
export function inbound(h: Harness, raw: Buffer | string, query = '', headers: Record<string, string> = {}) {
  return h.request('POST', `/v1/inbound/email${query}`, raw, { 'content-type': 'message/rfc822', ...headers });
}

/**
 * A real server (both listeners on loopback, ephemeral ports) on a fresh store with
 * `overrides`, and an `api(path, body)` that POSTs JSON with its first key. `close()`
 * stops the server (when not stopped already) and removes its store.
 */
export async function liveServer(overrides: ConfigOverrides = {}) {
  const { startServer } = await import('../src/server.js');
  const database = await freshDatabase();
  const dataDir = tempDir('switchboard-live-');
  const server = await startServer(loadConfig({
    dataDir, databaseUrl: database.url, host: '127.0.0.1', port: 0, smtpHost: '127.0.0.1', smtpPort: 0, logLevel: 'silent', ...NO_LOAD_SHEDDING, ...overrides,
  }, {}));
  const api = async (url: string, body: unknown): Promise<any> => (await fetch(`http://127.0.0.1:${server.port}${url}`, {
    method: 'POST', headers: { authorization: `Bearer ${server.firstRun!.apiKey}`, 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify(body),
  })).json();
  return {
    server, api,
    async close() {
      await server.close();
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
