/**
 * `POST /v1/inbound/email`: raw RFC 5322 over HTTP. Size limit (413), media types
 * (415), unknown recipients (422), attachments kept as media, malformed MIME stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

const LIMIT = 64 * 1024;
let h: Harness;
beforeAll(async () => {
  h = await harness({ maxMessageBytes: LIMIT });
  await identityWithMailbox(h, 'in@shop.test', 'in');
});
afterAll(async () => { await h.close(); });

const messagesOf = async (convId: string) => (await h.request('GET', `/v1/conversations/${convId}/messages`)).body.data;

describe('inbound email over HTTP', () => {
  it('refuses a message over the configured size with 413 and stores nothing', async () => {
    const big = rawEmail({ from: 'a@x.test', to: 'in@shop.test', messageId: 'big@x.test', body: 'x'.repeat(LIMIT) });
    const res = await inbound(h, big);
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('payload_too_large');
    expect((await h.request('GET', '/v1/conversations?with=a@x.test')).body.data).toEqual([]);
    const fits = await inbound(h, rawEmail({ from: 'a@x.test', to: 'in@shop.test', messageId: 'fits@x.test', body: 'x'.repeat(LIMIT - 2000) }));
    expect(fits.status).toBe(201);
  });

  it('refuses other media types, an empty body and unknown recipients', async () => {
    const json = await h.request('POST', '/v1/inbound/email', { raw: 'x' });
    expect(json.status).toBe(415);
    expect(json.body.code).toBe('unsupported_media_type');
    const empty = await inbound(h, '');
    expect(empty.status).toBe(400);
    const nobody = await inbound(h, rawEmail({ from: 'a@x.test', to: 'nobody@shop.test' }));
    expect(nobody.status).toBe(422);
    expect(nobody.body.code).toBe('unknown_recipient');
    const badTo = await inbound(h, rawEmail({ from: 'a@x.test', to: 'in@shop.test' }), '?to=not-an-address');
    expect(badTo.status).toBe(400);
    expect(badTo.body.param).toMatch(/to/);
  });

  it('delivers by ?to= when the headers do not name the mailbox (Bcc)', async () => {
    const res = await inbound(h, rawEmail({ from: 'b@x.test', to: 'list@lists.test', messageId: 'bcc@x.test' }), '?to=IN@shop.test');
    expect(res.status).toBe(201);
    const byHeader = await inbound(h, rawEmail({ from: 'b@x.test', to: 'list@lists.test', messageId: 'bcc2@x.test', extraHeaders: ['Delivered-To: in@shop.test'] }));
    expect(byHeader.status).toBe(201);
  });

  it('delivers one message to each identity it names, once per identity', async () => {
    await identityWithMailbox(h, 'sales@shop.test', 'sales');
    const res = await inbound(h, rawEmail({ from: 'c@x.test', to: 'in@shop.test, sales@shop.test', messageId: 'both@x.test' }));
    expect(res.status).toBe(201);
    expect(res.body.results).toHaveLength(2);
    expect(new Set(res.body.results.map((r: any) => r.conversation_id)).size).toBe(2);
    const again = await inbound(h, rawEmail({ from: 'c@x.test', to: 'in@shop.test, sales@shop.test', messageId: 'both@x.test' }));
    expect(again.status).toBe(200);
    expect(again.body.results.map((r: any) => r.status)).toEqual(['duplicate', 'duplicate']);
  });

  it('keeps attachments as media and decodes encoded words and charsets', async () => {
    const pdf = Buffer.from('%PDF-1.4 fake but binary \u0000\u0001\u0002', 'latin1');
    const raw = Buffer.concat([Buffer.from([
      'From: =?ISO-8859-1?Q?Andr=E9_M=FCller?= <andre@x.test>',
      'To: in@shop.test',
      'Subject: =?UTF-8?B?w5xiZXJ3ZWlzdW5n?=',
      'Message-ID: <att@x.test>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: 8bit',
      '',
      '',
    ].join('\r\n')), Buffer.from('Grüße aus Köln', 'latin1'), Buffer.from([
      '',
      '--b1',
      'Content-Type: application/pdf; name="rechnung.pdf"',
      'Content-Disposition: attachment; filename="rechnung.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      pdf.toString('base64'),
      '--b1--',
      '',
    ].join('\r\n'))]);
    const res = await inbound(h, raw);
    expect(res.status).toBe(201);
    const [msg] = await messagesOf(res.body.results[0].conversation_id);
    expect(msg.subject).toBe('Überweisung');
    expect(msg.from).toEqual({ address: 'andre@x.test', name: 'André Müller' });
    expect(msg.text.trim()).toBe('Grüße aus Köln');
    expect(msg.media).toHaveLength(1);
    expect(msg.media[0]).toMatchObject({ filename: 'rechnung.pdf', content_type: 'application/pdf', size_bytes: pdf.length });
    const file = await h.app.inject({ url: `/v1/media/${msg.media[0].id}`, headers: { authorization: `Bearer ${h.key}` } });
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('application/pdf');
    expect(file.rawPayload.equals(pdf)).toBe(true);
    const other = await h.otherOrg();
    const foreign = await h.app.inject({ url: `/v1/media/${msg.media[0].id}`, headers: { authorization: `Bearer ${other}` } });
    expect(foreign.statusCode).toBe(404);
    const snap = (await h.request('GET', `/v1/conversations/${res.body.results[0].conversation_id}`)).body;
    expect(snap.latest_message.has_media).toBe(true);
  });

  it('stores malformed MIME with what could be read', async () => {
    const broken = Buffer.from([
      'From: d@x.test',
      'To: in@shop.test',
      'Subject: half a message',
      'Message-ID: <broken@x.test>',
      'Content-Type: multipart/mixed; boundary="never-closed"',
      '',
      '--never-closed',
      'Content-Type: text/plain',
      '',
      'The part that survived.',
      '--never-closed',
      'Content-Type: image/png',
      'Content-Transfer-Encoding: base64',
      '',
      'iVBORw0KGgo%%%%not base64',
    ].join('\r\n'));
    const res = await inbound(h, broken);
    expect(res.status).toBe(201);
    const [msg] = await messagesOf(res.body.results[0].conversation_id);
    expect(msg.subject).toBe('half a message');
    expect(msg.text).toContain('The part that survived.');
    const raw = await h.app.inject({ url: `/v1/messages/${msg.id}/raw`, headers: { authorization: `Bearer ${h.key}` } });
    // The bytes as received, under this server's authentication results.
    expect(raw.rawPayload.subarray(raw.rawPayload.length - broken.length).equals(broken)).toBe(true);
    expect(raw.rawPayload.subarray(0, raw.rawPayload.length - broken.length).toString()).toMatch(/^Received-SPF: [^]*Authentication-Results: [^]*\r\n$/);

    const junk = Buffer.concat([Buffer.from('To: in@shop.test\r\n\r\n'), Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) % 256))]);
    const stored = await inbound(h, junk);
    expect(stored.status).toBe(201);
    const [junkMsg] = await messagesOf(stored.body.results[0].conversation_id);
    expect(junkMsg.from).toBeNull();
    expect(junkMsg.headers.message_id).toBeNull();
    // Without a Message-ID, the same bytes are still recognised as a duplicate.
    expect((await inbound(h, junk)).status).toBe(200);
  });
});
