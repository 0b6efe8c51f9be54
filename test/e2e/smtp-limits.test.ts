/**
 * The SMTP listener's limits over real sockets (a raw client, to see every reply): an
 * oversized message sent without SIZE= is discarded as it arrives and refused with 552;
 * recipients per message (452 4.5.3), connections per client IP and in all (421),
 * unknown commands (421), the idle timeout and the session time limit (421).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigOverrides } from '../../src/config.js';
import { collectChunks } from '../../src/email/smtp-listener.js';
import type { RunningServer } from '../../src/server.js';
import { liveServer, rawEmail } from '../helpers.js';
import { SmtpClient, type Reply } from '../smtp-client.js';

/** A server with `overrides` and mailboxes for `addresses`. */
async function serverWith(overrides: ConfigOverrides, addresses: string[]) {
  const live = await liveServer(overrides);
  for (const address of addresses) {
    const identity = await live.api('/v1/identities', { handle: address.split('@')[0] });
    const mailbox = await live.api('/v1/mailboxes', { identity_id: identity.id, address });
    if (!mailbox.id) throw new Error(`mailbox ${address}: ${JSON.stringify(mailbox)} (identity: ${JSON.stringify(identity)})`);
  }
  return live;
}

describe('collectChunks', () => {
  it('keeps the chunks up to the limit and lets all of them go once past it', () => {
    const body = collectChunks(10);
    body.push(Buffer.from('abcd'));
    body.push(Buffer.from('efghij'));
    expect(Buffer.concat(body.chunks).toString()).toBe('abcdefghij');
    expect(body.exceeded).toBe(false);
    body.push(Buffer.from('k'));
    expect(body.chunks).toEqual([]);
    expect(body.exceeded).toBe(true);
    body.push(Buffer.alloc(1_000_000));
    expect(body.chunks).toEqual([]);
    expect(body.bytes).toBe(1_000_011);
  });
});

describe('SMTP limits', () => {
  const MAX_BYTES = 64 * 1024;
  let s: Awaited<ReturnType<typeof serverWith>>;
  let port: number;
  beforeAll(async () => {
    s = await serverWith({ maxMessageBytes: MAX_BYTES, smtpMaxRecipients: 2, smtpMaxConnectionsPerIp: 3, smtpMaxConnections: 4 },
      ['one@limits.test', 'two@limits.test', 'three@limits.test']);
    port = s.server.smtpPort;
  });
  afterAll(async () => { await s?.close(); });

  const envelope = async (client: SmtpClient, to: string[]) => {
    expect((await client.command('EHLO client.test')).code).toBe(250);
    expect((await client.command('MAIL FROM:<sender@elsewhere.test>')).code).toBe(250);
    const replies: Reply[] = [];
    for (const r of to) replies.push(await client.command(`RCPT TO:<${r}>`));
    return replies;
  };

  it('reads a message over MAX_MESSAGE_BYTES sent without SIZE= to its end without keeping it, then answers 552', async () => {
    // Forced collections show what the process still holds, not garbage it has yet to
    // collect (twice: buffers a collection finds dead are freed by the next).
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const held = () => { gc(); gc(); return process.memoryUsage().arrayBuffers; };
    const { client } = await SmtpClient.connect(port);
    await envelope(client, ['one@limits.test']);
    expect((await client.command('DATA')).code).toBe(354);
    const line = `${'x'.repeat(1022)}\r\n`;
    const block = Buffer.from(line.repeat(256)); // 256 KiB
    const TOTAL = 6 * 1024 * 1024; // read at about 1.3 MB/s past the limit: some 5 s
    client.socket.write('From: big@elsewhere.test\r\nTo: one@limits.test\r\nSubject: too big\r\n\r\n');
    const baseline = held();
    let peak = 0;
    for (let sent = 0; sent < TOTAL; sent += block.length) {
      if (!client.socket.write(block)) await new Promise((r) => client.socket.once('drain', r));
      if (sent % (1024 * 1024) === 0) {
        await new Promise((r) => setTimeout(r, 5)); // let the server read what was sent
        peak = Math.max(peak, held() - baseline);
      }
    }
    await new Promise((r) => setTimeout(r, 50));
    peak = Math.max(peak, held() - baseline);
    client.socket.write('\r\n.\r\n');
    const refused = await client.reply(10_000);
    expect(refused.code).toBe(552);
    expect(refused.text).toMatch(/5\.3\.4/);
    // 6 MiB went through; what the server held stayed far below it (the old collector kept all of it).
    expect(peak).toBeLessThan(2 * 1024 * 1024);
    expect((await client.command('RSET')).code).toBe(250); // the session goes on
    await client.quit();
  });

  it('accepts SMTP_MAX_RECIPIENTS recipients and answers 452 4.5.3 to the next; the message is taken for those accepted', async () => {
    const { client } = await SmtpClient.connect(port);
    const replies = await envelope(client, ['one@limits.test', 'two@limits.test', 'three@limits.test', 'one@limits.test']);
    expect(replies.map((r) => r.code)).toEqual([250, 250, 452, 250]); // a repeated recipient does not count twice
    expect(replies[2]!.text).toMatch(/^452 4\.5\.3 Too many recipients/);
    expect((await client.command('DATA')).code).toBe(354);
    client.socket.write(rawEmail({ from: 'sender@elsewhere.test', to: 'one@limits.test, two@limits.test', messageId: 'capped@elsewhere.test' }));
    expect((await client.command('.')).code).toBe(250);
    await client.quit();
  });

  it('refuses a connection past SMTP_MAX_CONNECTIONS_PER_IP with 421 4.7.0, and takes one again when another closes', async () => {
    const open = await Promise.all([1, 2, 3].map(() => SmtpClient.connect(port)));
    expect(open.map((o) => o.greeting.code)).toEqual([220, 220, 220]);
    const { client: fourth, greeting } = await SmtpClient.connect(port);
    expect(greeting.code).toBe(421);
    expect(greeting.text).toMatch(/4\.7\.0/);
    expect(await fourth.closedWithin(2_000)).toBe(true);
    // Another client IP is not affected.
    const other = await SmtpClient.connect(port, '127.0.0.2');
    expect(other.greeting.code).toBe(220);
    await open[0]!.client.quit();
    await new Promise((r) => setTimeout(r, 100));
    const again = await SmtpClient.connect(port);
    expect(again.greeting.code).toBe(220);
    await Promise.all([...open.slice(1), other, again].map((o) => o.client.quit()));
  });

  it('refuses a connection past SMTP_MAX_CONNECTIONS in all with 421', async () => {
    await new Promise((r) => setTimeout(r, 100)); // the last test's sessions have ended
    const open = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map((ip) => SmtpClient.connect(port, ip)));
    expect(open.map((o) => o.greeting.code)).toEqual([220, 220, 220, 220]);
    const { client: fifth, greeting } = await SmtpClient.connect(port, '127.0.0.6');
    expect(greeting.code).toBe(421);
    expect(await fifth.closedWithin(2_000)).toBe(true);
    await Promise.all(open.map((o) => o.client.quit()));
  });

  it('disconnects a client after ten unknown commands with 421', async () => {
    await new Promise((r) => setTimeout(r, 100));
    const { client } = await SmtpClient.connect(port);
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) codes.push((await client.command(`FOO${i}`)).code);
    expect(codes.slice(0, 9).every((c) => c === 500)).toBe(true);
    expect(codes[9]).toBe(421);
    expect(await client.closedWithin(2_000)).toBe(true);
  });
});

describe('SMTP session timeouts', () => {
  const IDLE_MS = 400;
  const SESSION_MS = 1_500;
  let s: Awaited<ReturnType<typeof serverWith>>;
  let port: number;
  beforeAll(async () => {
    s = await serverWith({ smtpIdleTimeoutMs: IDLE_MS, smtpSessionTimeoutMs: SESSION_MS }, ['one@timeouts.test']);
    port = s.server.smtpPort;
  });
  afterAll(async () => { await s?.close(); });

  it('disconnects a client that sends nothing for SMTP_IDLE_TIMEOUT_MS with 421', async () => {
    const { client } = await SmtpClient.connect(port);
    expect((await client.command('EHLO client.test')).code).toBe(250);
    const started = Date.now();
    const bye = await client.reply(5_000);
    expect(bye.code).toBe(421);
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(await client.closedWithin(2_000)).toBe(true);
  });

  it('disconnects a client that keeps the session busy past SMTP_SESSION_TIMEOUT_MS with 421 4.4.2', async () => {
    const { client } = await SmtpClient.connect(port);
    const started = Date.now();
    expect((await client.command('EHLO client.test')).code).toBe(250);
    const codes: number[] = [];
    while (Date.now() - started < SESSION_MS + 3_000) {
      const r = await client.command('NOOP').catch(() => null);
      if (!r) break;
      codes.push(r.code);
      if (r.code === 421) {
        expect(r.text).toMatch(/4\.4\.2/);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100)); // never idle for IDLE_MS
    }
    expect(codes.at(-1)).toBe(421);
    expect(Date.now() - started).toBeLessThan(SESSION_MS + 1_000);
    expect(await client.closedWithin(2_000)).toBe(true);
  });

  it('disconnects a client trickling a message past SMTP_SESSION_TIMEOUT_MS with 421', async () => {
    const { client } = await SmtpClient.connect(port);
    const started = Date.now();
    expect((await client.command('EHLO client.test')).code).toBe(250);
    expect((await client.command('MAIL FROM:<slow@elsewhere.test>')).code).toBe(250);
    expect((await client.command('RCPT TO:<one@timeouts.test>')).code).toBe(250);
    expect((await client.command('DATA')).code).toBe(354);
    client.socket.write('Subject: slow\r\n\r\n');
    while (!client.socket.destroyed && client.replies.length < 6 && Date.now() - started < SESSION_MS + 3_000) {
      client.socket.write('x');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(client.replies.at(-1)?.code).toBe(421);
    expect(Date.now() - started).toBeLessThan(SESSION_MS + 1_000);
    expect(await client.closedWithin(2_000)).toBe(true);
  });
});
