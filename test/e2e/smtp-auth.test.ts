/**
 * A forged own address over real SMTP: the server's SMTP listener checks SPF against the
 * connecting client (127.0.0.1) and the envelope, DMARC against the From domain's
 * published policy (DNS served by the test), stores the message as inbound and flagged,
 * or refuses it with 550 5.7.1 when the mailbox's inbound_policy is reject.
 */
import fs from 'node:fs';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { zone } from '../dns.js';
import { freshDatabase, rawEmail, tempDir, NO_LOAD_SHEDDING } from '../helpers.js';

describe('SMTP: mail claiming our own address', () => {
  let server: RunningServer;
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let dataDir: string;
  let base: string;
  let key: string;
  let mailboxId: string;
  const api = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${base}${url}`, {
      method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() as any };
  };
  const send = (raw: Buffer, from: string) => nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail({ envelope: { from, to: ['support@own.test'] }, raw });
  // The attacker connects from 127.0.0.1, which own.test's SPF record does not allow.
  const forged = (id: string) => rawEmail({ from: 'Support <support@own.test>', to: 'support@own.test', messageId: id, subject: 'Re: your refund', body: 'We promise a full refund.' });

  beforeAll(async () => {
    database = await freshDatabase();
    dataDir = tempDir('switchboard-smtp-auth-');
    const config = loadConfig({ dataDir, databaseUrl: database.url, host: '127.0.0.1', port: 0, smtpHost: '127.0.0.1', smtpPort: 0, ...NO_LOAD_SHEDDING, logLevel: 'silent' }, {});
    server = await startServer(config, undefined, {
      resolver: zone({ 'own.test': { TXT: ['v=spf1 ip4:192.0.2.99 -all'] }, '_dmarc.own.test': { TXT: ['v=DMARC1; p=reject'] } }),
    });
    base = `http://127.0.0.1:${server.port}`;
    key = server.firstRun!.apiKey;
    const idn = await api('POST', '/v1/identities', { handle: 'support' });
    mailboxId = (await api('POST', '/v1/mailboxes', { identity_id: idn.body.id, address: 'support@own.test' })).body.id;
  });
  afterAll(async () => {
    await server.close();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores it as inbound, flagged spoofed, with the SPF and DMARC verdicts', async () => {
    await send(forged('forged-smtp-1@evil.test'), 'attacker@evil.test');
    const [conversation] = (await api('GET', '/v1/conversations')).body.data;
    const [message] = (await api('GET', `/v1/conversations/${conversation.id}/messages`)).body.data;
    expect(message).toMatchObject({ direction: 'inbound', spoofed: true, status: 'delivered' });
    // SPF speaks for the envelope sender's domain (no record), DMARC for the From domain's.
    expect(message.authentication.spf).toEqual({ result: 'none', domain: 'evil.test' });
    expect(message.authentication.dmarc).toMatchObject({ result: 'fail', domain: 'own.test', policy: 'reject' });
  });

  it('refuses it with 550 5.7.1 when the mailbox rejects spoofed mail, and stores nothing', async () => {
    expect((await api('PATCH', `/v1/mailboxes/${mailboxId}`, { inbound_policy: 'reject' })).status).toBe(200);
    const err = await send(forged('forged-smtp-2@evil.test'), 'attacker@evil.test').then(() => null, (e: { responseCode?: number; response?: string }) => e);
    expect(err?.responseCode).toBe(550);
    expect(err?.response).toMatch(/5\.7\.1/);
    const events = (await api('GET', '/v1/events?after=0&types=message')).body.data;
    expect(events.map((e: any) => e.data.headers.message_id)).not.toContain('forged-smtp-2@evil.test');
  });
});
