/**
 * Email out through the API with the capture transport (no relay configured): send by
 * conversation id, first sends with mailbox rotation, idempotent retries. The composed
 * RFC 5322 source is read back from `/raw` and checked against RFC 5322 section 3.6.4.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let identityId: string;
let mailboxId: string;
beforeAll(async () => {
  h = await harness();
  ({ identityId, mailboxId } = await identityWithMailbox(h, 'agent@shop.test', 'agent'));
});
afterAll(async () => { await h.close(); });

/** Header fields of a raw message, unfolded (RFC 5322 section 2.2.3), by lower-cased name. */
async function rawHeaders(messageId: string): Promise<Record<string, string>> {
  const res = await h.app.inject({ url: `/v1/messages/${messageId}/raw`, headers: { authorization: `Bearer ${h.key}` } });
  expect(res.statusCode).toBe(200);
  const head = res.body.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const out: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    out[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}
const ids = (field: string | undefined) => (field?.match(/<[^>]+>/g) ?? []).map((s) => s.slice(1, -1));

describe('reply by conversation id', () => {
  it('answers the latest message with Re:, In-Reply-To and References', async () => {
    await inbound(h, rawEmail({ from: 'Kim <kim@buyer.test>', to: 'agent@shop.test', subject: 'Broken lamp', messageId: 'k1@buyer.test' }));
    const second = await inbound(h, rawEmail({
      from: 'kim@buyer.test', to: 'agent@shop.test', subject: 'Re: Broken lamp', messageId: 'k2@buyer.test',
      inReplyTo: 'k1@buyer.test', references: '<k1@buyer.test>', extraHeaders: ['Reply-To: Kim Desk <desk@buyer.test>', 'Cc: lee@buyer.test'],
    }));
    const convId = second.body.results[0].conversation_id;
    const sent = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'A new lamp is on its way.' });
    // Accepted at once; a mailbox without a relay keeps it in the store: `captured`, never `sent`.
    expect(sent.status).toBe(202);
    expect(sent.body.conversation_id).toBe(convId);
    const msg = sent.body.message;
    expect(msg).toMatchObject({ direction: 'outbound', status: 'captured', account_id: mailboxId, subject: 'Re: Broken lamp' });
    expect(msg.headers.in_reply_to).toBe('k2@buyer.test');
    expect(msg.headers.references).toEqual(['k1@buyer.test', 'k2@buyer.test']);

    const headers = await rawHeaders(msg.id);
    expect(headers.subject).toBe('Re: Broken lamp');
    expect(ids(headers['in-reply-to'])).toEqual(['k2@buyer.test']);
    expect(ids(headers.references)).toEqual(['k1@buyer.test', 'k2@buyer.test']);
    expect(headers.from).toContain('agent@shop.test');
    expect(headers.to).toContain('desk@buyer.test'); // Reply-To wins over From (RFC 5322 section 3.6.2)
    expect(headers.cc).toContain('lee@buyer.test');
    expect(ids(headers['message-id'])).toEqual([msg.headers.message_id]);
    expect(msg.headers.message_id).toMatch(/@shop\.test$/);

    const snap = (await h.request('GET', `/v1/conversations/${convId}`)).body;
    expect(snap.message_count).toBe(3);
    expect(snap.latest_message).toMatchObject({ direction: 'outbound', text: 'A new lamp is on its way.' });
    expect(snap.events.map((e: any) => e.type)).toEqual(['message', 'message', 'message']);

    // The customer's answer to our reply threads back into the conversation.
    const answer = await inbound(h, rawEmail({
      from: 'kim@buyer.test', to: 'agent@shop.test', subject: 'Re: Broken lamp', messageId: 'k3@buyer.test', inReplyTo: msg.headers.message_id,
    }));
    expect(answer.body.results[0].conversation_id).toBe(convId);
  });

  it('sends a reply twice under one Idempotency-Key only once', async () => {
    const res = await inbound(h, rawEmail({ from: 'max@buyer.test', to: 'agent@shop.test', subject: 'Invoice', messageId: 'm1@buyer.test' }));
    const convId = res.body.results[0].conversation_id;
    const key = { 'idempotency-key': `reply-${convId}` };
    const a = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'Attached.' }, key);
    const b = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'Attached.' }, key);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.body.message.id).toBe(a.body.message.id);
    expect((await h.request('GET', `/v1/conversations/${convId}`)).body.message_count).toBe(2);
    const other = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'Different.' }, key);
    expect(other.body.code).toBe('idempotency_conflict');
  });

  it('validates the reply body', async () => {
    const res = await inbound(h, rawEmail({ from: 'ned@buyer.test', to: 'agent@shop.test', messageId: 'n1@buyer.test' }));
    const convId = res.body.results[0].conversation_id;
    for (const body of [{}, { text: '' }, { text: 5 }, { text: 'x', bcc: ['a@b.c'] }]) {
      const r = await h.request('POST', `/v1/conversations/${convId}/messages`, body);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('validation_failed');
    }
  });
});

describe('a conversation whose mailbox was deleted', () => {
  it('shows sender_disconnected: true and refuses a reply with 409 sender_disconnected instead of sending from another mailbox', async () => {
    const idn = (await h.request('POST', '/v1/identities', { handle: 'rotating' })).body.id;
    const gone = (await h.request('POST', '/v1/mailboxes', { identity_id: idn, address: 'gone@rotate.test' })).body.id;
    await h.request('POST', '/v1/mailboxes', { identity_id: idn, address: 'stays@rotate.test' });
    const mail = await inbound(h, rawEmail({ from: 'pat@buyer.test', to: 'gone@rotate.test', subject: 'Order 12', messageId: 'p1@buyer.test' }));
    const convId = mail.body.results[0].conversation_id;
    expect((await h.request('GET', `/v1/conversations/${convId}`)).body).toMatchObject({ sender: { id: gone, address: 'gone@rotate.test' }, sender_disconnected: false });

    expect((await h.request('DELETE', `/v1/mailboxes/${gone}`)).status).toBe(204);
    const snapshot = (await h.request('GET', `/v1/conversations/${convId}`)).body;
    expect(snapshot).toMatchObject({ sender: null, sender_disconnected: true });
    const before = snapshot.message_count;
    const reply = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'On its way.' }, { 'idempotency-key': 'after-delete-1' });
    expect(reply.status).toBe(409);
    expect(reply.body).toMatchObject({ code: 'sender_disconnected', retryable: false });
    expect(reply.body.fix).toMatch(/POST \/v1\/messages/);
    expect((await h.request('GET', `/v1/conversations/${convId}`)).body.message_count).toBe(before);
  });
});

describe('first message', () => {
  it('opens a conversation, and new conversations take turns over the mailboxes', async () => {
    const idn = (await h.request('POST', '/v1/identities', { handle: 'outreach' })).body;
    const boxes = [];
    for (const address of ['one@out.test', 'two@out.test']) {
      boxes.push((await h.request('POST', '/v1/mailboxes', { identity_id: idn.id, address })).body.id);
    }
    const used: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await h.request('POST', '/v1/messages', { identity_id: idn.id, to: `lead${i}@prospect.test`, subject: `Hello ${i}`, text: 'Hi!' });
      expect(res.status).toBe(202);
      used.push(res.body.message.account_id);
      const conv = (await h.request('GET', `/v1/conversations/${res.body.conversation_id}`)).body;
      expect(conv).toMatchObject({ counterpart: `lead${i}@prospect.test`, subject: `Hello ${i}`, identity_id: idn.id });
    }
    expect(used[0]).not.toBe(used[1]);
    expect(used[2]).toBe(used[0]);
    expect(used[3]).toBe(used[1]);
    expect(new Set(used)).toEqual(new Set(boxes));

    // A reply stays on the conversation's mailbox, whoever's turn it is.
    const first = await h.request('POST', '/v1/messages', { identity_id: idn.id, to: 'x@prospect.test', subject: 'S', text: 'a' });
    for (let i = 0; i < 2; i++) {
      const reply = await h.request('POST', `/v1/conversations/${first.body.conversation_id}/messages`, { text: `follow-up ${i}` });
      expect(reply.body.message.account_id).toBe(first.body.message.account_id);
      expect(reply.body.message.subject).toBe('Re: S');
      expect(reply.body.message.to).toEqual([{ address: 'x@prospect.test', name: null }]);
    }
  });

  it('sends from a named mailbox and refuses one of another identity', async () => {
    const res = await h.request('POST', '/v1/messages', { identity_id: identityId, account_id: mailboxId, to: ['a@p.test', 'b@p.test'], cc: ['c@p.test'], subject: 'Quote', text: 'Here.' });
    expect(res.status).toBe(202);
    const headers = await rawHeaders(res.body.message.id);
    expect(headers.to).toMatch(/a@p\.test.*b@p\.test/);
    expect(headers.cc).toContain('c@p.test');
    expect(headers['in-reply-to']).toBeUndefined();
    const idn = (await h.request('POST', '/v1/identities', { handle: 'stranger' })).body;
    const wrong = await h.request('POST', '/v1/messages', { identity_id: idn.id, account_id: mailboxId, to: 'a@p.test', subject: 'x', text: 'y' });
    expect(wrong.status).toBe(404);
    expect(wrong.body.param).toBe('account_id');
  });

  it('needs a mailbox to send from', async () => {
    const idn = (await h.request('POST', '/v1/identities', { handle: 'empty' })).body;
    const res = await h.request('POST', '/v1/messages', { identity_id: idn.id, to: 'a@p.test', subject: 'x', text: 'y' });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('no_sender');
    const missing = await h.request('POST', '/v1/messages', { identity_id: 'idn_01h455vb4pex5vsknk084sn02q', to: 'a@p.test', subject: 'x', text: 'y' });
    expect(missing.status).toBe(404);
  });
});
