/**
 * Bounces: a real Postfix delivery status notification (test/fixtures/postfix-bounce.eml,
 * RFC 3464) about one of our replies marks that reply `bounced` with the report's
 * recipient and diagnostic, keeps the report, and opens no conversation. The fixture's
 * returned Message-ID is rewritten to our reply's, as the relay would have returned it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeliveryReport } from '../../src/email/dsn.js';
import { parseEmail } from '../../src/email/parse.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

const FIXTURE = fs.readFileSync(path.join(import.meta.dirname, '../fixtures/postfix-bounce.eml'), 'latin1');
const ORIGINAL_ID = 'msg_01jbounce0000000000000000@example.test';

let h: Harness;
beforeAll(async () => {
  h = await harness();
  await identityWithMailbox(h, 'agent@example.test', 'agent');
});
afterAll(async () => { await h.close(); });

/** Our reply in a new conversation with a customer; returns the conversation and the reply. */
async function replied(customer: string) {
  const conv = (await inbound(h, rawEmail({ from: customer, to: 'agent@example.test', messageId: `${customer}-1` }))).body.results[0].conversation_id;
  const sent = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'Your order shipped.' });
  expect(sent.status).toBe(202);
  return { conv, reply: sent.body.message };
}
const conversations = async () => (await h.request('GET', '/v1/conversations?limit=200')).body.data.map((c: any) => c.id);

describe('reading a delivery report (RFC 3464)', () => {
  it('finds the failed recipient, its status and diagnostic, and the returned Message-ID', async () => {
    const report = readDeliveryReport(await parseEmail(Buffer.from(FIXTURE, 'latin1')));
    expect(report).toEqual({
      originalMessageId: ORIGINAL_ID,
      recipients: [{ recipient: 'nosuchuser@example.test', action: 'failed', status: '5.1.1', diagnostic: 'unknown user: "nosuchuser"' }],
    });
  });

  it('finds nothing in ordinary mail', async () => {
    expect(readDeliveryReport(await parseEmail(rawEmail({ from: 'a@x.test', to: 'b@y.test' })))).toBeNull();
  });
});

describe('a bounce of one of our replies', () => {
  it('marks the reply bounced with the recipient and diagnostic, keeps the report, and opens no conversation', async () => {
    const { conv, reply } = await replied('kim@buyer.test');
    const before = await conversations();
    const bounce = Buffer.from(FIXTURE.replaceAll(ORIGINAL_ID, reply.headers.message_id), 'latin1');
    const res = await inbound(h, bounce, '?to=agent@example.test');
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ status: 'bounce', conversation_id: conv, message_id: reply.id });
    expect(await conversations()).toEqual(before);

    const message = (await h.request('GET', `/v1/messages/${reply.id}`)).body;
    expect(message).toMatchObject({ status: 'bounced', error: 'nosuchuser@example.test: unknown user: "nosuchuser"' });
    const [event] = (await h.request('GET', `/v1/conversations/${conv}/events?types=message_status`)).body.data;
    expect(event.data).toMatchObject({
      message_id: reply.id, status: 'bounced',
      report: { recipient: 'nosuchuser@example.test', status: '5.1.1', diagnostic: 'unknown user: "nosuchuser"' },
    });
    // The report as received, with this server's authentication results on top.
    const kept = await h.app.inject({ url: `/v1/media/${event.data.report.media_id}`, headers: { authorization: `Bearer ${h.key}` } });
    expect(kept.statusCode).toBe(200);
    expect(kept.body).toContain('Reporting-MTA: dns; mail.example.test');
    expect(kept.body).toMatch(/^Received-SPF: /);

    // The same report again changes nothing.
    await inbound(h, bounce, '?to=agent@example.test');
    expect((await h.request('GET', `/v1/conversations/${conv}/events?types=message_status`)).body.data).toHaveLength(1);
  });

  it('is matched by a VERP return address (agent+bounce-<message id>@…) even without the original headers', async () => {
    const { conv, reply } = await replied('lee@buyer.test');
    const bare = rawEmail({ from: 'MAILER-DAEMON@mx.buyer.test', to: `agent+bounce-${reply.id}@example.test`, subject: 'failure notice', body: 'Sorry, I could not deliver it.' });
    const res = await inbound(h, bare, `?to=${encodeURIComponent(`agent+bounce-${reply.id}@example.test`)}`);
    expect(res.body.results[0]).toMatchObject({ status: 'bounce', conversation_id: conv, message_id: reply.id });
    expect((await h.request('GET', `/v1/messages/${reply.id}`)).body.status).toBe('bounced');
  });

  it('is matched by the report\'s own References when it returns nothing of the message', async () => {
    const { reply } = await replied('max@buyer.test');
    const dsn = Buffer.from([
      'From: Mail Delivery System <mailer-daemon@mx.buyer.test>', 'To: agent@example.test', 'Subject: Mail delivery failed',
      'Message-ID: <dsn-3@mx.buyer.test>', `References: <${reply.headers.message_id}>`, 'Auto-Submitted: auto-replied',
      'MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=delivery-status; boundary="b"', '',
      '--b', 'Content-Type: text/plain', '', 'Delivery failed.', '',
      '--b', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.buyer.test', '',
      'Final-Recipient: rfc822; max@buyer.test', 'Action: failed', 'Status: 5.2.2', 'Diagnostic-Code: smtp; 552 5.2.2 Mailbox full', '',
      '--b--', '',
    ].join('\r\n'));
    const res = await inbound(h, dsn, '?to=agent@example.test');
    expect(res.body.results[0]).toMatchObject({ status: 'bounce', message_id: reply.id });
    expect((await h.request('GET', `/v1/messages/${reply.id}`)).body).toMatchObject({ status: 'bounced', error: 'max@buyer.test: 552 5.2.2 Mailbox full' });
  });

  it('stores a report about a message that is not ours as mail, flagged automatic', async () => {
    const res = await inbound(h, Buffer.from(FIXTURE, 'latin1'), '?to=agent@example.test');
    expect(res.status).toBe(201);
    expect(res.body.results[0].status).toBe('stored');
    const messages = (await h.request('GET', `/v1/conversations/${res.body.results[0].conversation_id}/messages`)).body.data;
    expect(messages[0]).toMatchObject({ auto_submitted: true, subject: 'Undelivered Mail Returned to Sender' });
  });
});
