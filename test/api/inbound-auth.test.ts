/**
 * Inbound mail authentication (SPF, DKIM, DMARC through mailauth) and what it decides:
 * mail that arrives is inbound whatever its From says, a forged own address is flagged
 * or refused by the mailbox's `inbound_policy`, and the stored copy carries this
 * server's Authentication-Results. DNS is served by the test (test/dns.ts); DKIM
 * signatures are made in the test with nodemailer's DKIM signer.
 */
import crypto from 'node:crypto';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zone, type Zone } from '../dns.js';
import { harness, identityWithMailbox, inbound, type Harness } from '../helpers.js';

const keys = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicKey = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const privateKey = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const records: Zone = {
  'partner.test': { TXT: ['v=spf1 ip4:192.0.2.10 -all'] },
  '_dmarc.partner.test': { TXT: ['v=DMARC1; p=reject'] },
  'sel._domainkey.partner.test': { TXT: [`v=DKIM1; k=rsa; p=${publicKey}`] },
  'soft.test': { TXT: ['v=spf1 ip4:192.0.2.20 ~all'] },
  // Our own domain publishes SPF and a reject policy, as a careful sender would.
  'own.test': { TXT: ['v=spf1 ip4:192.0.2.99 -all'] },
  '_dmarc.own.test': { TXT: ['v=DMARC1; p=reject'] },
};

const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'crlf' });

/** A message built by nodemailer, DKIM-signed for partner.test when asked. */
async function mail(p: { from: string; to?: string; id: string; text?: string; sign?: boolean; inReplyTo?: string }): Promise<Buffer> {
  const info = await composer.sendMail({
    from: p.from, to: p.to ?? 'desk@own.test', subject: 'Order 7', text: p.text ?? 'Please ship it.', messageId: `<${p.id}>`,
    ...(p.inReplyTo ? { inReplyTo: `<${p.inReplyTo}>` } : {}),
    ...(p.sign ? { dkim: { domainName: 'partner.test', keySelector: 'sel', privateKey } } : {}),
  });
  return info.message as Buffer;
}

let h: Harness;
let mailboxId = '';
beforeAll(async () => {
  h = await harness({}, { resolver: zone(records) });
  ({ mailboxId } = await identityWithMailbox(h, 'desk@own.test', 'desk'));
});
afterAll(async () => { await h.close(); });

/** Uploads raw mail as if handed over by `ip`; returns the stored message (or the problem). */
async function receive(raw: Buffer, query: Record<string, string> = {}) {
  const res = await inbound(h, raw, `?${new URLSearchParams(query)}`);
  if (res.status >= 300) return { status: res.status, problem: res.body, message: null as any };
  const { conversation_id: conversation, message_id: id } = res.body.results[0];
  const messages = (await h.request('GET', `/v1/conversations/${conversation}/messages?limit=200`)).body.data;
  return { status: res.status, problem: null, message: messages.find((m: any) => m.id === id) };
}

describe('DKIM', () => {
  it('passes a message signed for its From domain, with DMARC aligned', async () => {
    const { message } = await receive(await mail({ from: 'buyer@partner.test', id: 'dkim-ok@partner.test', sign: true }));
    expect(message.authentication.dkim).toEqual([{ result: 'pass', domain: 'partner.test', selector: 'sel' }]);
    expect(message.authentication.dmarc).toMatchObject({ result: 'pass', domain: 'partner.test', policy: 'reject' });
    expect(message.authentication.aligned).toBe(true);
    expect(message.spoofed).toBe(false);
  });

  it('fails a signed message whose body was changed after signing', async () => {
    const signed = (await mail({ from: 'buyer@partner.test', id: 'dkim-bad@partner.test', sign: true, text: 'Ship 1 crate.' })).toString('utf8');
    const tampered = Buffer.from(signed.replace('Ship 1 crate.', 'Ship 9 crates.'));
    const { message } = await receive(tampered);
    // mailauth reports a body hash that no longer matches as `neutral` ("body hash did not verify"): not a pass.
    expect(message.authentication.dkim[0]).toMatchObject({ domain: 'partner.test' });
    expect(['fail', 'neutral']).toContain(message.authentication.dkim[0].result);
    expect(message.authentication.dmarc.result).toBe('fail');
    expect(message.authentication.aligned).toBe(false);
  });
});

describe('SPF through the client IP the caller reports', () => {
  it('passes, fails and soft-fails by the domain\'s record', async () => {
    const pass = await receive(await mail({ from: 'a@partner.test', id: 'spf-1@partner.test' }), { client_ip: '192.0.2.10', mail_from: 'a@partner.test', helo: 'mx.partner.test' });
    expect(pass.message.authentication.spf).toEqual({ result: 'pass', domain: 'partner.test' });
    expect(pass.message.authentication.aligned).toBe(true);
    const fail = await receive(await mail({ from: 'a@partner.test', id: 'spf-2@partner.test' }), { client_ip: '198.51.100.7', mail_from: 'a@partner.test' });
    expect(fail.message.authentication.spf.result).toBe('fail');
    const soft = await receive(await mail({ from: 'b@soft.test', id: 'spf-3@soft.test' }), { client_ip: '198.51.100.7', mail_from: 'b@soft.test' });
    expect(soft.message.authentication.spf).toEqual({ result: 'softfail', domain: 'soft.test' });
    // Without the client IP there is nothing to check SPF against.
    const none = await receive(await mail({ from: 'c@partner.test', id: 'spf-4@partner.test' }));
    expect(none.message.authentication.spf.result).toBe('none');
  });

  it('keeps this server\'s Authentication-Results on top of the stored copy', async () => {
    const { message } = await receive(await mail({ from: 'a@partner.test', id: 'ar-1@partner.test' }), { client_ip: '192.0.2.10', mail_from: 'a@partner.test' });
    const raw = (await h.request('GET', `/v1/messages/${message.id}/raw`)).body as string;
    const head = raw.split(/\r?\n\r?\n/)[0]!;
    expect(head).toMatch(/^Received-SPF: pass /);
    expect(head).toMatch(/\nAuthentication-Results: localhost;\r?\n dkim=none[^]*spf=pass[^]*dmarc=pass/);
    expect(raw).toContain('Please ship it.');
  });
});

describe('mail claiming one of our own addresses', () => {
  it('is inbound and flagged when it fails DMARC alignment (inbound_policy flag, the default)', async () => {
    const forged = await mail({ from: 'desk@own.test', to: 'desk@own.test', id: 'forged-1@evil.test' });
    const { message } = await receive(forged, { client_ip: '203.0.113.66', mail_from: 'attacker@evil.test' });
    expect(message).toMatchObject({ direction: 'inbound', spoofed: true, status: 'delivered' });
    expect(message.authentication.dmarc).toMatchObject({ result: 'fail', policy: 'reject' });
  });

  it('is not flagged when it comes from our domain\'s own sender', async () => {
    const ours = await mail({ from: 'desk@own.test', id: 'own-1@own.test' });
    const { message } = await receive(ours, { client_ip: '192.0.2.99', mail_from: 'desk@own.test' });
    expect(message).toMatchObject({ direction: 'inbound', spoofed: false });
  });

  it('is refused with inbound_policy reject (422 spoofed_sender), as is DMARC-failing mail of a domain whose policy is reject', async () => {
    expect((await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { inbound_policy: 'reject' })).body.inbound_policy).toBe('reject');
    try {
      const forged = await receive(await mail({ from: 'desk@own.test', id: 'forged-2@evil.test' }), { client_ip: '203.0.113.66' });
      expect(forged.status).toBe(422);
      expect(forged.problem).toMatchObject({ code: 'spoofed_sender' });
      const failing = await receive(await mail({ from: 'x@partner.test', id: 'dmarc-rej@partner.test' }), { client_ip: '203.0.113.66', mail_from: 'x@partner.test' });
      expect(failing.status).toBe(422);
      // A domain without a DMARC reject policy still gets in.
      const soft = await receive(await mail({ from: 'y@soft.test', id: 'soft-ok@soft.test' }), { client_ip: '203.0.113.66' });
      expect(soft.status).toBe(201);
      const listed = (await h.request('GET', '/v1/conversations?limit=200')).body.data;
      expect(JSON.stringify(listed)).not.toContain('forged-2');
    } finally {
      await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { inbound_policy: 'flag' });
    }
  });

  it('is stored unflagged with inbound_policy accept', async () => {
    await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { inbound_policy: 'accept' });
    try {
      const { message } = await receive(await mail({ from: 'desk@own.test', id: 'forged-3@evil.test' }), { client_ip: '203.0.113.66' });
      expect(message).toMatchObject({ direction: 'inbound', spoofed: false });
    } finally {
      await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { inbound_policy: 'flag' });
    }
  });

  it('rejects an unknown inbound_policy with 400', async () => {
    const res = await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { inbound_policy: 'maybe' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('validation_failed');
  });
});

describe('auto-replies', () => {
  it('are flagged and leave a no-reply timer armed, unless the mailbox says they count as replies', async () => {
    const first = await receive(await mail({ from: 'c@partner.test', id: 'ask-1@partner.test' }));
    const conversation = first.message.conversation_id;
    const reply = await h.request('POST', `/v1/conversations/${conversation}/messages`, { text: 'On it.', no_reply_after: 86_400_000 });
    expect(reply.status).toBeLessThan(300);
    const ours = reply.body.message.headers.message_id;
    const armed = (await h.request('GET', `/v1/conversations/${conversation}`)).body.no_reply_at;
    expect(armed).not.toBeNull();

    const autoReply = (id: string) => Buffer.from([
      'From: c@partner.test', 'To: desk@own.test', 'Subject: Out of office', `Message-ID: <${id}>`, `In-Reply-To: <${ours}>`,
      'Auto-Submitted: auto-replied', '', 'I am away until Monday.', '',
    ].join('\r\n'));
    const away = await receive(autoReply('away-1@partner.test'));
    expect(away.message).toMatchObject({ conversation_id: conversation, auto_submitted: true, keeps_no_reply: true });
    expect((await h.request('GET', `/v1/conversations/${conversation}`)).body.no_reply_at).toBe(armed);

    await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { auto_replies_stop_no_reply: true });
    try {
      const counted = await receive(autoReply('away-2@partner.test'));
      expect(counted.message.auto_submitted).toBe(true);
      expect(counted.message.keeps_no_reply).toBeUndefined();
      expect((await h.request('GET', `/v1/conversations/${conversation}`)).body.no_reply_at).toBeNull();
    } finally {
      await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { auto_replies_stop_no_reply: false });
    }
  });
});
