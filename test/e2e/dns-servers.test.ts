/**
 * `DNS_SERVERS`: the mail authentication lookups go to the DNS servers it names, over
 * real DNS (UDP, the benchmarks' responder), instead of the system's; a setting that is
 * not an address stops the start with its name.
 */
import fs from 'node:fs';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a JavaScript module of the benchmarks, without types
import { startDnsResponder } from '../../bench/dns-responder.mjs';
import { loadConfig } from '../../src/config.js';
import { systemResolver } from '../../src/email/authentication.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { freshDatabase, NO_LOAD_SHEDDING, rawEmail, tempDir } from '../helpers.js';

interface Responder { address: string; queries(): number; close(): Promise<void> }

let dns: Responder;
beforeAll(async () => {
  // SPF allows loopback for sender.test only: a pass can come from this server alone.
  dns = await startDnsResponder({ 'sender.test': ['v=spf1 ip4:127.0.0.1 -all'] }) as Responder;
});
afterAll(async () => { await dns.close(); });

describe('DNS_SERVERS', () => {
  it('is read as a list of addresses, and refuses what is not one', () => {
    expect(loadConfig({}, { DNS_SERVERS: '127.0.0.1:5353, [::1]:53' }).dnsServers).toEqual(['127.0.0.1:5353', '[::1]:53']);
    expect(loadConfig({}, {}).dnsServers).toEqual([]);
    expect(() => loadConfig({}, { DNS_SERVERS: '10.0.0' })).toThrow(/DNS_SERVERS: 10\.0\.0/);
    expect(() => loadConfig({}, { DNS_SERVERS: 'dns.example' })).toThrow(/dnsServers/);
  });

  it('sends the resolver\'s lookups to the servers named', async () => {
    const resolve = systemResolver(1_000, [dns.address]);
    const before = dns.queries();
    expect(await resolve('sender.test', 'TXT')).toEqual([['v=spf1 ip4:127.0.0.1 -all']]);
    await expect(resolve('nothing.sender.test', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(dns.queries() - before).toBe(2);
  });

  describe('on a running server', () => {
    let server: RunningServer;
    let database: Awaited<ReturnType<typeof freshDatabase>>;
    let dataDir: string;
    beforeAll(async () => {
      database = await freshDatabase();
      dataDir = tempDir('switchboard-dns-');
      const config = loadConfig({ dataDir, databaseUrl: database.url, host: '127.0.0.1', port: 0, smtpHost: '127.0.0.1', smtpPort: 0, ...NO_LOAD_SHEDDING, logLevel: 'silent' }, { DNS_SERVERS: dns.address });
      server = await startServer(config);
    });
    afterAll(async () => {
      await server.close();
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('authenticates SMTP mail with the answers of those servers', async () => {
      const base = `http://127.0.0.1:${server.port}`;
      const api = async (method: string, url: string, body?: unknown) => (await fetch(`${base}${url}`, {
        method, headers: { authorization: `Bearer ${server.firstRun!.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      })).json() as Promise<any>;
      const identity = await api('POST', '/v1/identities', { handle: 'desk' });
      await api('POST', '/v1/mailboxes', { identity_id: identity.id, address: 'desk@shop.test' });
      await nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
        .sendMail({ envelope: { from: 'ann@sender.test', to: ['desk@shop.test'] }, raw: rawEmail({ from: 'ann@sender.test', to: 'desk@shop.test', messageId: 'dns-1@sender.test' }) });
      const [conversation] = (await api('GET', '/v1/conversations')).data;
      const [message] = (await api('GET', `/v1/conversations/${conversation.id}/messages`)).data;
      expect(message.authentication.spf).toEqual({ result: 'pass', domain: 'sender.test' });
    });
  });
});
