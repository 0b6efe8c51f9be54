/**
 * Twilio webhook translation (src/channels/twilio/webhooks.ts) on its own: the signature
 * check over any form, the fields of incoming messages and status callbacks, and the
 * URL the signature covers when PUBLIC_URL is not set (the request's Host).
 */
import fc from 'fast-check';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTwilioSignatureValid, parseIncoming, parseStatus } from '../../src/channels/twilio/webhooks.js';
import { harness, type Harness } from '../helpers.js';

const fieldName = fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,15}$/);
const form = fc.dictionary(fieldName, fc.string({ maxLength: 40 }), { minKeys: 1, maxKeys: 12 });
const URL_ = 'https://sb.example.test/v1/inbound/twilio/acct_1/messages?x=1';

describe('the Twilio signature', () => {
  it('accepts every form signed with the token over the URL, and refuses it once any field, the URL or the token differs', () => {
    fc.assert(fc.property(form, fc.string({ minLength: 1, maxLength: 10 }), (params, extra) => {
      const signature = getExpectedTwilioSignature('secret-token', URL_, params);
      expect(isTwilioSignatureValid('secret-token', signature, URL_, params)).toBe(true);
      expect(isTwilioSignatureValid('other-token', signature, URL_, params)).toBe(false);
      expect(isTwilioSignatureValid('secret-token', signature, `${URL_}&y=2`, params)).toBe(false);
      const [key] = Object.keys(params);
      expect(isTwilioSignatureValid('secret-token', signature, URL_, { ...params, [key!]: `${params[key!]}${extra}` })).toBe(false);
      expect(isTwilioSignatureValid('secret-token', signature, URL_, { ...params, Zz: extra })).toBe(false);
    }));
  });

  it('refuses a missing signature and a URL it cannot parse, without throwing', () => {
    expect(isTwilioSignatureValid('t', undefined, URL_, {})).toBe(false);
    expect(isTwilioSignatureValid('t', '', URL_, {})).toBe(false);
    expect(isTwilioSignatureValid('t', 'abc', 'http://[bad host/x', {})).toBe(false);
  });
});

describe('incoming message fields', () => {
  it('normalizes From and To to E.164 however the number is written, and reads NumMedia items', () => {
    const msg = parseIncoming({
      MessageSid: 'SM1', From: '+1 (415) 555-0123', To: '+1 415.555.0100', Body: 'hi', NumMedia: '2',
      MediaUrl0: 'https://api.twilio.com/m0', MediaContentType0: 'image/png', MediaUrl1: 'https://api.twilio.com/m1',
    });
    expect(msg).toEqual({
      messageSid: 'SM1', from: '+14155550123', to: '+14155550100', body: 'hi',
      media: [{ url: 'https://api.twilio.com/m0', contentType: 'image/png' }, { url: 'https://api.twilio.com/m1', contentType: null }],
    });
  });

  it('keeps a short code as written, and names a missing field', () => {
    expect(parseIncoming({ MessageSid: 'SM1', From: '72345', To: '+14155550100', Body: 'STOP' })).toMatchObject({ from: '72345' });
    expect(parseIncoming({ From: '+14155550123', To: '+14155550100' })).toBe('MessageSid');
    expect(parseIncoming({ MessageSid: 'SM1', To: '+14155550100' })).toBe('From');
  });
});

describe('status callback fields', () => {
  it('maps Twilio\'s statuses to ours, ErrorCode into error, and anything else to null', () => {
    const cases: [string, string | null][] = [
      ['queued', 'queued'], ['accepted', 'queued'], ['sending', 'queued'], ['sent', 'sent'], ['delivered', 'delivered'],
      ['undelivered', 'failed'], ['failed', 'failed'], ['read', 'read'], ['receiving', null], ['constructor', null],
    ];
    for (const [given, ours] of cases) expect(parseStatus({ MessageSid: 'SM1', MessageStatus: given })).toMatchObject({ status: ours });
    expect(parseStatus({ MessageSid: 'SM1', MessageStatus: 'failed', ErrorCode: '30007' })).toEqual({ messageSid: 'SM1', status: 'failed', error: 'Twilio error 30007' });
    fc.assert(fc.property(fc.string(), (status) => {
      const parsed = parseStatus({ MessageSid: 'SM1', MessageStatus: status });
      expect(typeof parsed === 'string' || parsed.status === null || ['queued', 'sent', 'delivered', 'failed', 'read'].includes(parsed.status)).toBe(true);
    }));
  });
});

describe('without PUBLIC_URL', () => {
  let h: Harness;
  let accountId: string;
  beforeAll(async () => {
    h = await harness();
    const identity = (await h.request('POST', '/v1/identities', { handle: 'sms' })).body.id;
    accountId = (await h.request('POST', '/v1/channel_accounts', {
      identity_id: identity, channel: 'sms', address: '+14155550100', config: { account_sid: 'AC1', auth_token: 'tok' },
    })).body.id;
  });
  afterAll(async () => h?.close());

  it('checks the signature over the request\'s protocol, Host and path', async () => {
    const fields = { MessageSid: 'SMhost1', From: '+14155550123', To: '+14155550100', Body: 'via host', NumMedia: '0' };
    const path = `/v1/inbound/twilio/${accountId}/messages`;
    const post = (signedUrl: string) => h.app.inject({
      method: 'POST', url: path, payload: new URLSearchParams(fields).toString(),
      headers: { host: 'sms.example.test', 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': getExpectedTwilioSignature('tok', signedUrl, fields) },
    });
    expect((await post(`https://sms.example.test${path}`)).statusCode).toBe(401);
    const ok = await post(`http://sms.example.test${path}`);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.body).toMatch(/<Response\/>/);
  });

  it('keeps JSON routes on JSON: a form post to a JSON route is refused', async () => {
    const res = await h.app.inject({
      method: 'POST', url: '/v1/identities', payload: 'handle=x',
      headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.statusCode).toBe(415);
  });
});
