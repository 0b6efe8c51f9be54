/**
 * Timers are durable: a no-reply timer armed on one run of the server fires after a
 * restart on the same store, exactly once, driven by a manual clock.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { loadConfig, type Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { freshDatabase, rawEmail, tempDir, NO_LOAD_SHEDDING } from '../helpers.js';

const MINUTE = 60_000;
let config: Config;
let database: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;
beforeAll(async () => {
  dataDir = tempDir();
  database = await freshDatabase();
  // Sweeps only when started or kicked, so the test decides when timers are looked at.
  config = loadConfig({ dataDir, databaseUrl: database.url, host: '127.0.0.1', port: 0, smtpHost: '127.0.0.1', smtpPort: 0, ...NO_LOAD_SHEDDING, logLevel: 'silent', sweepIntervalMs: 3_600_000 }, {});
});
afterAll(async () => {
  await database.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function client(server: RunningServer, key: string) {
  return async (method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, {
      method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      body: body === undefined ? undefined : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() as any };
  };
}

describe('timers across a restart', () => {
  it('fires a timer armed before the restart once, after it', async () => {
    const clock = new ManualClock(Date.parse('2026-05-01T12:00:00.000Z'));
    const first = await startServer(config, undefined, { clock });
    const key = first.firstRun!.apiKey;
    let api = client(first, key);
    const idn = await api('POST', '/v1/identities', { handle: 'desk' });
    await api('POST', '/v1/mailboxes', { identity_id: idn.body.id, address: 'desk@restart.test' });
    const got = await api('POST', '/v1/inbound/email', rawEmail({ from: 'eve@x.test', to: 'desk@restart.test', messageId: 'r1@x.test' }), 'message/rfc822');
    const conv = got.body.results[0].conversation_id;
    expect((await api('POST', `/v1/conversations/${conv}/messages`, { text: 'Back soon.', no_reply_after: 15 * MINUTE })).status).toBe(202);
    await first.close();

    clock.advance(16 * MINUTE);
    const second = await startServer(config, undefined, { clock }); // its first sweep runs at start
    api = client(second, key);
    const expired = async () => (await api('GET', `/v1/conversations/${conv}/events?types=no_reply_expired`)).body.data;
    await expect.poll(expired, { timeout: 5_000 }).toHaveLength(1);
    second.timers.kick();
    clock.advance(60 * MINUTE);
    second.timers.kick();
    await second.close();

    const third = await startServer(config, undefined, { clock });
    api = client(third, key);
    third.timers.kick();
    await new Promise((r) => setTimeout(r, 200));
    const events = await expired();
    expect(events).toHaveLength(1);
    expect(events[0].data.waited_ms).toBe(16 * MINUTE);
    expect((await api('GET', `/v1/conversations/${conv}`)).body.no_reply_at).toBeNull();
    await third.close();
  });
});
