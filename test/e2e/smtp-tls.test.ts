/**
 * STARTTLS on the SMTP listener (RFC 3207) and recipient routing over SMTP, over real
 * sockets: the server from `startServer` with a self-signed certificate made by openssl
 * for the test, nodemailer as the sending MTA, everything read back through the HTTP API.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigOverrides } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { zone } from '../dns.js';
import { freshDatabase, rawEmail, tempDir, NO_LOAD_SHEDDING } from '../helpers.js';

interface Booted {
  readonly server: RunningServer;
  api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** A server on ephemeral loopback ports with a fresh store, DNS answered offline. */
async function boot(overrides: ConfigOverrides): Promise<Booted> {
  const dataDir = tempDir('switchboard-e2e-smtp-tls-');
  const database = await freshDatabase();
  try {
    const config = loadConfig({
      dataDir, databaseUrl: database.url, host: '127.0.0.1', port: 0, smtpHost: '127.0.0.1', smtpPort: 0, ...NO_LOAD_SHEDDING, logLevel: 'silent', ...overrides,
    }, {});
    const server = await startServer(config, undefined, { resolver: zone() });
    const key = server.firstRun!.apiKey;
    const api: Booted['api'] = async (method, url, body) => {
      const res = await fetch(`http://127.0.0.1:${server.port}${url}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: any = text;
      try { parsed = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, body: parsed };
    };
    return {
      server, api,
      async close() {
        await server.close();
        await database.drop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** A self-signed certificate for `localhost` and its key, PEM files in `dir`. */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
    '-days', '1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

async function mailbox(b: Booted, handle: string, address: string): Promise<string> {
  const identity = await b.api('POST', '/v1/identities', { handle });
  expect(identity.status).toBe(201);
  const created = await b.api('POST', '/v1/mailboxes', { identity_id: identity.body.id, address });
  expect(created.status).toBe(201);
  return created.body.id;
}

type ClientTls = { requireTLS: true; tls: { rejectUnauthorized: boolean; ca?: Buffer; servername?: string } } | { ignoreTLS: true };

async function send(b: Booted, client: ClientTls, to: string[], raw: Buffer, from = 'sender@elsewhere.test') {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1', port: b.server.smtpPort, secure: false, ...client,
    connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 10_000,
  });
  try {
    return await transport.sendMail({ envelope: { from, to }, raw });
  } finally {
    transport.close();
  }
}

async function refusal(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('the delivery was expected to fail');
}

/** Every message of every conversation, with the conversation's mailbox, through the API. */
async function allMessages(b: Booted): Promise<any[]> {
  const list = await b.api('GET', '/v1/conversations?limit=100');
  expect(list.status).toBe(200);
  const out: any[] = [];
  for (const conv of list.body.data) {
    const messages = await b.api('GET', `/v1/conversations/${conv.id}/messages?limit=100`);
    expect(messages.status).toBe(200);
    out.push(...messages.body.data);
  }
  return out;
}

const bySubject = async (b: Booted, subject: string) => (await allMessages(b)).filter((m) => m.subject === subject);

let certDir: string;
let certificate: { cert: string; key: string };
let otherCertificate: { cert: string; key: string };
beforeAll(() => {
  certDir = tempDir('switchboard-smtp-cert-');
  certificate = selfSigned(certDir, 'server');
  otherCertificate = selfSigned(certDir, 'other');
});
afterAll(() => { if (certDir) fs.rmSync(certDir, { recursive: true, force: true }); });

describe('SMTP listener with a certificate (STARTTLS offered)', () => {
  let b: Booted;
  let supportId: string;
  beforeAll(async () => {
    b = await boot({ smtpTlsCert: certificate.cert, smtpTlsKey: certificate.key });
    supportId = await mailbox(b, 'support', 'support@tls.test');
  });
  afterAll(async () => { await b?.close(); });

  it('delivers mail from a client that requires TLS, readable through the API', async () => {
    const raw = rawEmail({ from: 'sender@elsewhere.test', to: 'support@tls.test', subject: 'Over TLS', messageId: 'tls-1@elsewhere.test' });
    const info = await send(b, { requireTLS: true, tls: { rejectUnauthorized: false } }, ['support@tls.test'], raw);
    expect(info.accepted).toEqual(['support@tls.test']);
    expect(info.response).toMatch(/^250 /);
    const [message] = await bySubject(b, 'Over TLS');
    expect(message).toMatchObject({ direction: 'inbound', account_id: supportId, headers: { message_id: 'tls-1@elsewhere.test' } });
  });

  it('presents the configured certificate (a client that trusts only it verifies the session)', async () => {
    const raw = rawEmail({ from: 'sender@elsewhere.test', to: 'support@tls.test', subject: 'Pinned', messageId: 'tls-2@elsewhere.test' });
    const ca = fs.readFileSync(certificate.cert);
    const info = await send(b, { requireTLS: true, tls: { rejectUnauthorized: true, ca, servername: 'localhost' } }, ['support@tls.test'], raw);
    expect(info.accepted).toEqual(['support@tls.test']);
    const wrongCa = fs.readFileSync(otherCertificate.cert);
    const err = await refusal(send(b, { requireTLS: true, tls: { rejectUnauthorized: true, ca: wrongCa, servername: 'localhost' } }, ['support@tls.test'], raw));
    expect(String(err.message)).toMatch(/certificate/i);
  });

  it('still takes plaintext mail when TLS is not required', async () => {
    const raw = rawEmail({ from: 'sender@elsewhere.test', to: 'support@tls.test', subject: 'Plaintext', messageId: 'plain-1@elsewhere.test' });
    const info = await send(b, { ignoreTLS: true }, ['support@tls.test'], raw);
    expect(info.accepted).toEqual(['support@tls.test']);
    expect(await bySubject(b, 'Plaintext')).toHaveLength(1);
  });
});

describe('SMTP listener with SMTP_REQUIRE_TLS', () => {
  let b: Booted;
  beforeAll(async () => {
    b = await boot({ smtpTlsCert: certificate.cert, smtpTlsKey: certificate.key, smtpRequireTls: true });
    await mailbox(b, 'support', 'support@tls.test');
  });
  afterAll(async () => { await b?.close(); });

  it('refuses MAIL FROM before STARTTLS with 530 5.7.0 and stores nothing', async () => {
    const raw = rawEmail({ from: 'sender@elsewhere.test', to: 'support@tls.test', subject: 'No TLS', messageId: 'notls@elsewhere.test' });
    const err = await refusal(send(b, { ignoreTLS: true }, ['support@tls.test'], raw));
    expect(err.responseCode).toBe(530);
    expect(String(err.response)).toMatch(/^530 5\.7\.0 Must issue a STARTTLS command first/);
    expect(await allMessages(b)).toEqual([]);
  });

  it('delivers after STARTTLS', async () => {
    const raw = rawEmail({ from: 'sender@elsewhere.test', to: 'support@tls.test', subject: 'With TLS', messageId: 'withtls@elsewhere.test' });
    const info = await send(b, { requireTLS: true, tls: { rejectUnauthorized: false } }, ['support@tls.test'], raw);
    expect(info.accepted).toEqual(['support@tls.test']);
    expect(await bySubject(b, 'With TLS')).toHaveLength(1);
  });
});

describe('SMTP listener without a certificate', () => {
  let b: Booted;
  beforeAll(async () => {
    b = await boot({});
    await mailbox(b, 'support', 'support@tls.test');
  });
  afterAll(async () => { await b?.close(); });

  it('does not offer STARTTLS: a client that requires TLS fails and nothing is stored', async () => {
    const raw = rawEmail({ from: 'sender@elsewhere.test', to: 'support@tls.test', subject: 'Wants TLS', messageId: 'wants@elsewhere.test' });
    const err = await refusal(send(b, { requireTLS: true, tls: { rejectUnauthorized: false } }, ['support@tls.test'], raw));
    expect(String(err.message)).toMatch(/STARTTLS/);
    expect(await allMessages(b)).toEqual([]);
  });
});

describe('TLS settings at start-up', () => {
  it('refuses SMTP_REQUIRE_TLS without a certificate, and a certificate without its key', () => {
    expect(() => loadConfig({}, { SMTP_REQUIRE_TLS: 'true' })).toThrow(/SMTP_REQUIRE_TLS=true needs SMTP_TLS_CERT and SMTP_TLS_KEY/);
    expect(() => loadConfig({}, { SMTP_TLS_CERT: certificate.cert })).toThrow(/SMTP_TLS_CERT and SMTP_TLS_KEY go together/);
    expect(() => loadConfig({}, { SMTP_TLS_KEY: certificate.key })).toThrow(/SMTP_TLS_CERT and SMTP_TLS_KEY go together/);
    const config = loadConfig({}, { SMTP_TLS_CERT: certificate.cert, SMTP_TLS_KEY: certificate.key, SMTP_REQUIRE_TLS: 'true' });
    expect(config).toMatchObject({ smtpTlsCert: certificate.cert, smtpTlsKey: certificate.key, smtpRequireTls: true });
    expect(loadConfig({}, {})).toMatchObject({ smtpTlsCert: null, smtpTlsKey: null, smtpRequireTls: false });
  });

  it('fails to start, naming the setting, when a file cannot be read', async () => {
    const missing = path.join(certDir, 'missing.crt');
    await expect(boot({ smtpTlsCert: missing, smtpTlsKey: certificate.key })).rejects.toThrow(`SMTP_TLS_CERT: cannot read ${missing}`);
    await expect(boot({ smtpTlsCert: certificate.cert, smtpTlsKey: missing })).rejects.toThrow(`SMTP_TLS_KEY: cannot read ${missing}`);
  });

  it('fails to start when the key is not the certificate\'s, or a file is not PEM', async () => {
    await expect(boot({ smtpTlsCert: certificate.cert, smtpTlsKey: otherCertificate.key })).rejects.toThrow(/SMTP_TLS_CERT .* and SMTP_TLS_KEY .* are not a PEM certificate and its private key/);
    const notPem = path.join(certDir, 'not-pem.txt');
    fs.writeFileSync(notPem, 'hello\n');
    await expect(boot({ smtpTlsCert: notPem, smtpTlsKey: certificate.key })).rejects.toThrow(/are not a PEM certificate/);
  });
});

describe('recipient routing over SMTP (plus-addressing, catch-all)', () => {
  let b: Booted;
  let supportId: string;
  let vipId: string;
  let catchAllId: string;
  const client = { requireTLS: true, tls: { rejectUnauthorized: false } } as const;
  beforeAll(async () => {
    b = await boot({ smtpTlsCert: certificate.cert, smtpTlsKey: certificate.key });
    supportId = await mailbox(b, 'support', 'support@shop.test');
    vipId = await mailbox(b, 'vip', 'support+vip@shop.test');
    catchAllId = await mailbox(b, 'inbox', 'inbox@shop.test');
    await mailbox(b, 'elsewhere', 'hello@other.test');
  });
  afterAll(async () => { await b?.close(); });

  it('delivers local+tag@domain to local@domain and keeps the tag on the message', async () => {
    const raw = rawEmail({ from: 'buyer@elsewhere.test', to: 'support+Orders@shop.test', subject: 'Tagged', messageId: 'tagged@elsewhere.test' });
    const info = await send(b, client, ['support+Orders@shop.test'], raw);
    expect(info.accepted).toEqual(['support+Orders@shop.test']);
    const [message] = await bySubject(b, 'Tagged');
    expect(message).toMatchObject({ account_id: supportId, address_tag: 'orders' });
  });

  it('prefers a mailbox with exactly the plus-address', async () => {
    const raw = rawEmail({ from: 'buyer@elsewhere.test', to: 'support+vip@shop.test', subject: 'Exact', messageId: 'exact@elsewhere.test' });
    await send(b, client, ['support+vip@shop.test'], raw);
    const [message] = await bySubject(b, 'Exact');
    expect(message).toMatchObject({ account_id: vipId, address_tag: null });
  });

  it('answers 550 for an unknown address until the domain has a catch-all, then delivers it there', async () => {
    const raw = rawEmail({ from: 'buyer@elsewhere.test', to: 'anything@shop.test', subject: 'Caught', messageId: 'caught@elsewhere.test' });
    const before = await refusal(send(b, client, ['anything@shop.test'], raw));
    expect(before.responseCode).toBe(550);
    expect((await b.api('PATCH', `/v1/mailboxes/${catchAllId}`, { catch_all: true })).body.catch_all).toBe(true);
    const info = await send(b, client, ['anything@shop.test'], raw);
    expect(info.accepted).toEqual(['anything@shop.test']);
    const [message] = await bySubject(b, 'Caught');
    expect(message).toMatchObject({ account_id: catchAllId });
    // Another domain's unknown address is still refused; a known address is not caught.
    const other = await refusal(send(b, client, ['x@other.test'], rawEmail({ from: 'buyer@elsewhere.test', to: 'x@other.test', messageId: 'x@elsewhere.test' })));
    expect(other.responseCode).toBe(550);
    await send(b, client, ['support@shop.test'], rawEmail({ from: 'buyer@elsewhere.test', to: 'support@shop.test', subject: 'Known', messageId: 'known@elsewhere.test' }));
    expect((await bySubject(b, 'Known'))[0]).toMatchObject({ account_id: supportId });
  });
});
