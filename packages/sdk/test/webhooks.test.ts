/**
 * `verifyWebhook` against the server's real deliveries (Standard Webhooks): a delivery
 * verifies and yields its event; a tampered body, a forged signature, an old timestamp
 * or a wrong secret are refused.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookVerificationError } from '../src/index.js';
import { identityWithMailbox, receiveMail, sdkServer, type SdkServer } from './fixture.js';

interface Delivery {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

let s: SdkServer;
let receiver: http.Server;
const deliveries: Delivery[] = [];
let secret: string;
let conversationId: string;

beforeAll(async () => {
  receiver = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) });
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  // Deliveries go to a receiver on loopback; the worker looks for work every 50 ms.
  s = await sdkServer({ outboundAllowPrivate: true, sweepIntervalMs: 50 });
  await identityWithMailbox(s.sb, 'hooks@webhooks.test');
  conversationId = await receiveMail(s.sb, 'di@people.test', 'hooks@webhooks.test');
  const endpoint = await s.sb.webhookEndpoints.create({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`, event_types: ['note'] });
  secret = endpoint.secret;
  await s.sb.conversations.addNote(conversationId, { text: 'Signed and delivered.' });
  const deadline = Date.now() + 20_000;
  while (deliveries.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(deliveries.length).toBeGreaterThan(0);
});
afterAll(async () => {
  await s.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

const plain = (headers: http.IncomingHttpHeaders) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]));

describe('verifyWebhook', () => {
  it('accepts a real delivery and returns its event', () => {
    const { headers, body } = deliveries[0]!;
    const payload = verifyWebhook(secret, headers, body.toString('utf8'));
    expect(payload.type).toBe('note');
    expect(payload.data).toMatchObject({ type: 'note', conversation_id: conversationId });
    expect((payload.data as { data: { text: string } }).data.text).toBe('Signed and delivered.');
    // Bytes and a Headers object work as well.
    expect(verifyWebhook(secret, new Headers(plain(headers)), new Uint8Array(body)).data.id).toBe(payload.data.id);
  });

  it('refuses a tampered body', () => {
    const { headers, body } = deliveries[0]!;
    const tampered = body.toString('utf8').replace('Signed and delivered.', 'Signed and delivered!');
    expect(() => verifyWebhook(secret, headers, tampered)).toThrow(WebhookVerificationError);
  });

  it('refuses another secret, a missing signature and a forged one', () => {
    const { headers, body } = deliveries[0]!;
    expect(() => verifyWebhook(`whsec_${Buffer.from('another secret, 32 bytes long....').toString('base64')}`, headers, body)).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(secret, { ...headers, 'webhook-signature': undefined }, body)).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(secret, { ...headers, 'webhook-signature': 'v1,AAAA' }, body)).toThrow(WebhookVerificationError);
  });

  it('refuses a delivery signed more than five minutes ago, even with a valid signature', () => {
    const { headers, body } = deliveries[0]!;
    const id = String(headers['webhook-id']);
    const old = new Date(Date.now() - 10 * 60 * 1000);
    const signature = new Webhook(secret).sign(id, old, body.toString('utf8'));
    const replayed = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(old.getTime() / 1000)), 'webhook-signature': signature };
    expect(() => verifyWebhook(secret, replayed, body)).toThrow(/timestamp/i);
    // The real signature with the old timestamp put in does not match either.
    expect(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': replayed['webhook-timestamp'] }, body)).toThrow(WebhookVerificationError);
  });
});
