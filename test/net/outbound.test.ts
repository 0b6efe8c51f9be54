/**
 * Server-side request forgery protection (net/outbound.ts): with private addresses not
 * allowed (the default), outbound requests to loopback, private, link-local and other
 * reserved addresses are refused before a byte is sent, whether the URL names the
 * address or a host name that resolves to it; webhook targets and provider URLs set by
 * a tenant are refused with a clear error.
 */
import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPublicAddress, outboundFetch, publicLookup, readAtMost, refusalOf } from '../../src/net/outbound.js';
import { harness, type Harness } from '../helpers.js';
import { FakeTwilio } from '../channels/fake-twilio.js';

// Special-purpose ranges from the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and successors).
const NOT_PUBLIC = [
  '0.0.0.0', '10.1.2.3', '100.64.0.1', '127.0.0.1', '127.8.9.10', '169.254.169.254', '172.16.0.1', '172.31.255.254',
  '192.0.0.8', '192.168.1.1', '198.18.0.1', '224.0.0.1', '240.0.0.1', '255.255.255.255',
  '::', '::1', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:169.254.169.254',
  '::a9fe:a9fe', '::7f00:1', // IPv4-compatible (RFC 4291 2.5.5.1): 169.254.169.254, 127.0.0.1
  'not an address', '',
];
const PUBLIC = ['1.1.1.1', '8.8.8.8', '93.184.216.34', '172.32.0.1', '2606:4700:4700::1111', '2a00:1450:4001:82a::200e', '::ffff:8.8.8.8'];

describe('isPublicAddress', () => {
  it.each(NOT_PUBLIC)('refuses %j', (a) => expect(isPublicAddress(a)).toBe(false));
  it.each(PUBLIC)('allows %j', (a) => expect(isPublicAddress(a)).toBe(true));

  it('refuses every address of the IPv4 private, loopback and link-local blocks', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const block = fc.oneof(
      fc.tuple(octet, octet, octet).map(([b, c, d]) => `10.${b}.${c}.${d}`),
      fc.tuple(fc.integer({ min: 16, max: 31 }), octet, octet).map(([b, c, d]) => `172.${b}.${c}.${d}`),
      fc.tuple(octet, octet).map(([c, d]) => `192.168.${c}.${d}`),
      fc.tuple(octet, octet, octet).map(([b, c, d]) => `127.${b}.${c}.${d}`),
      fc.tuple(octet, octet).map(([c, d]) => `169.254.${c}.${d}`),
    );
    fc.assert(fc.property(block, fc.boolean(), (a, mapped) => !isPublicAddress(mapped ? `::ffff:${a}` : a)));
  });
});

describe('readAtMost', () => {
  const streamed = (parts: string[], fail = false) => new Response(new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(new TextEncoder().encode(p));
      if (fail) c.error(new Error('connection reset')); else c.close();
    },
  }));

  it('reads a body up to the bound whole, and says when there was more', async () => {
    expect(await readAtMost(streamed(['abc', 'de']), 5)).toEqual({ body: Buffer.from('abcde'), complete: true });
    expect(await readAtMost(streamed(['abc', 'def']), 5)).toEqual({ body: Buffer.from('abcde'), complete: false });
  });

  it('stops at a Content-Length over the bound without reading', async () => {
    const res = new Response('x'.repeat(100), { headers: { 'content-length': '100' } });
    expect(await readAtMost(res, 10)).toEqual({ body: Buffer.alloc(0), complete: false });
  });

  it('throws for a body that breaks off, so a cut attachment never passes for a whole one', async () => {
    await expect(readAtMost(streamed(['abc'], true), 100)).rejects.toThrow('connection reset');
  });
});

describe('outboundFetch', () => {
  let server: http.Server;
  let port = 0;
  let hits = 0;
  beforeAll(async () => {
    server = http.createServer((_req, res) => { hits += 1; res.end('internal'); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => { await new Promise((resolve) => server.close(resolve)); });

  it.each([['an address', '127.0.0.1'], ['a host name', 'localhost']])('refuses a loopback server named by %s, sending nothing', async (_what, host) => {
    const before = hits;
    const err = await outboundFetch({ outboundAllowPrivate: false }, `http://${host}:${port}/`).then(() => null, (e: unknown) => e);
    expect(refusalOf(err)?.message).toMatch(/private or reserved address/);
    expect(hits).toBe(before);
  });

  it.each([{ all: true }, {}])('refuses a name that resolves to loopback in its lookup (options %j), without naming the address', async (options) => {
    const err = await new Promise<unknown>((resolve) => publicLookup('localhost', options, (e) => resolve(e)));
    expect(refusalOf(err)?.message).toMatch(/^localhost resolves to a private or reserved address/);
    expect(String((err as Error).message)).not.toMatch(/127\.0\.0\.1|::1/);
  });

  it('reaches it when the operator allows private addresses', async () => {
    const res = await outboundFetch({ outboundAllowPrivate: true }, `http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('internal');
  });
});

describe('with private addresses refused (the default)', () => {
  let h: Harness;
  let twilio: FakeTwilio;
  beforeAll(async () => {
    h = await harness({ outboundAllowPrivate: false });
    twilio = await FakeTwilio.start();
  });
  afterAll(async () => {
    await h?.close();
    await twilio?.close();
  });

  it.each(['http://127.0.0.1:9/hook', 'http://169.254.169.254/latest/meta-data/', 'http://localhost:8000/', 'http://[::1]:8000/', 'http://10.0.0.7/'])(
    'refuses the webhook target %s with a fix', async (url) => {
      const res = await h.request('POST', '/v1/webhook_endpoints', { url });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('webhook_target_refused');
      expect(res.body.fix).toMatch(/OUTBOUND_ALLOW_PRIVATE/);
      expect(JSON.stringify(res.body)).not.toMatch(/127\.0\.0\.1(?!:9)|"::1"/); // the resolved address is not told
      expect((await h.request('GET', '/v1/webhook_endpoints')).body.data).toEqual([]);
    },
  );

  it.each(['10.0.0.5', 'localhost', '169.254.169.254'])('refuses a mailbox SMTP relay on %s, on create and on change', async (host) => {
    const identityId = (await h.request('POST', '/v1/identities', { handle: `mail-${host.replace(/\W/g, '')}` })).body.id;
    const created = await h.request('POST', '/v1/mailboxes', { identity_id: identityId, address: `a@${host.replace(/\W/g, '')}.test`, smtp: { host, port: 25 } });
    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({ code: 'validation_failed', param: 'smtp.host' });
    const plain = await h.request('POST', '/v1/mailboxes', { identity_id: identityId, address: `b@${host.replace(/\W/g, '')}.test` });
    expect(plain.status).toBe(201);
    const patched = await h.request('PATCH', `/v1/mailboxes/${plain.body.id}`, { smtp: { host, port: 25 } });
    expect(patched.status).toBe(400);
    expect(patched.body.param).toBe('smtp.host');
    expect((await h.request('GET', `/v1/mailboxes/${plain.body.id}`)).body.smtp).toBeNull();
  });

  it('does not call a Twilio base_url on loopback: the send fails and the account shows why', async () => {
    const identityId = (await h.request('POST', '/v1/identities', { handle: 'texts' })).body.id;
    const account = await h.request('POST', '/v1/channel_accounts', {
      identity_id: identityId, channel: 'sms', address: '+14155550100', config: twilio.accountConfig(),
    });
    expect(account.status).toBe(201);
    const res = await h.request('POST', '/v1/messages', { channel: 'sms', identity_id: identityId, to: '+14155550199', text: 'hello' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.message.status).toBe('failed');
    expect(res.body.message.error).toMatch(/private or reserved address/);
    expect(twilio.requests).toEqual([]);
    const after = await h.request('GET', `/v1/channel_accounts/${account.body.id}`);
    expect(after.body).toMatchObject({ status: 'error' });
    expect(after.body.status_reason).toMatch(/private or reserved address/);
  });
});
