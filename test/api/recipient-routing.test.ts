/**
 * Recipient routing of `POST /v1/inbound/email`: plus-addressing (`local+tag@domain` to
 * `local@domain`, the tag kept on the message as `address_tag`), an exact mailbox winning
 * over it, and a domain's catch-all mailbox, never another domain's or organization's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let support: string;
let vip: string;
let catchAll: string;
beforeAll(async () => {
  h = await harness();
  support = (await identityWithMailbox(h, 'support@shop.test', 'support')).mailboxId;
  vip = (await identityWithMailbox(h, 'support+vip@shop.test', 'vip')).mailboxId;
  catchAll = (await identityWithMailbox(h, 'inbox@shop.test', 'inbox')).mailboxId;
});
afterAll(async () => { await h.close(); });

/** The stored message of one inbound result. */
async function storedMessage(result: { conversation_id: string; message_id: string }) {
  const res = await h.request('GET', `/v1/conversations/${result.conversation_id}/messages`);
  expect(res.status).toBe(200);
  return res.body.data.find((m: any) => m.id === result.message_id);
}

describe('plus-addressing', () => {
  it('delivers support+orders@ to support@ with address_tag "orders"', async () => {
    const res = await inbound(h, rawEmail({ from: 'buyer@x.test', to: 'support+orders@shop.test', messageId: 'plus-1@x.test' }));
    expect(res.status).toBe(201);
    expect(res.body.results).toHaveLength(1);
    expect(res.body.results[0]).toMatchObject({ mailbox_id: support, status: 'stored' });
    expect(await storedMessage(res.body.results[0])).toMatchObject({ account_id: support, address_tag: 'orders' });
  });

  it('lower-cases the tag, splits at the first +, and routes by ?to= too', async () => {
    const res = await inbound(h, rawEmail({ from: 'buyer@x.test', to: 'list@lists.test', messageId: 'plus-2@x.test' }), '?to=Support%2BOrder%2B42@Shop.test');
    expect(res.status).toBe(201);
    expect(await storedMessage(res.body.results[0])).toMatchObject({ account_id: support, address_tag: 'order+42' });
  });

  it('delivers to a mailbox with exactly the plus-address rather than its base', async () => {
    const res = await inbound(h, rawEmail({ from: 'buyer@x.test', to: 'support+vip@shop.test', messageId: 'plus-3@x.test' }));
    expect(res.status).toBe(201);
    expect(res.body.results[0].mailbox_id).toBe(vip);
    expect(await storedMessage(res.body.results[0])).toMatchObject({ account_id: vip, address_tag: null });
  });

  it('keeps address_tag null on mail to the plain address', async () => {
    const res = await inbound(h, rawEmail({ from: 'buyer@x.test', to: 'support@shop.test', messageId: 'plus-4@x.test' }));
    expect(await storedMessage(res.body.results[0])).toMatchObject({ account_id: support, address_tag: null });
  });

  it('answers 422 unknown_recipient when the base address is no mailbox either', async () => {
    const res = await inbound(h, rawEmail({ from: 'buyer@x.test', to: 'nobody+tag@shop.test', messageId: 'plus-5@x.test' }));
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('unknown_recipient');
  });
});

describe('catch-all mailbox', () => {
  it('receives mail for any unknown address of its domain once catch_all is on', async () => {
    const raw = rawEmail({ from: 'buyer@x.test', to: 'anything@shop.test', messageId: 'catch-1@x.test' });
    expect((await inbound(h, raw)).status).toBe(422);
    const patched = await h.request('PATCH', `/v1/mailboxes/${catchAll}`, { catch_all: true });
    expect(patched.status).toBe(200);
    expect(patched.body.catch_all).toBe(true);
    const res = await inbound(h, raw);
    expect(res.status).toBe(201);
    expect(res.body.results[0].mailbox_id).toBe(catchAll);
    expect(await storedMessage(res.body.results[0])).toMatchObject({ account_id: catchAll, address_tag: null });
  });

  it('leaves known addresses and plus-addresses of known mailboxes to their mailboxes', async () => {
    const plain = await inbound(h, rawEmail({ from: 'buyer@x.test', to: 'support@shop.test', messageId: 'catch-2@x.test' }));
    expect(plain.body.results[0].mailbox_id).toBe(support);
    const tagged = await inbound(h, rawEmail({ from: 'buyer@x.test', to: 'support+returns@shop.test', messageId: 'catch-3@x.test' }));
    expect(tagged.body.results[0].mailbox_id).toBe(support);
    const unknownBase = await inbound(h, rawEmail({ from: 'buyer@x.test', to: 'nobody+tag@shop.test', messageId: 'catch-4@x.test' }));
    expect(unknownBase.body.results[0].mailbox_id).toBe(catchAll);
  });

  it('does not catch another domain, a subdomain, or a domain that only ends the same', async () => {
    for (const to of ['x@other.test', 'x@sub.shop.test', 'x@myshop.test']) {
      const res = await inbound(h, rawEmail({ from: 'buyer@x.test', to, messageId: `catch-${to}` }));
      expect(res.status, to).toBe(422);
      expect(res.body.code).toBe('unknown_recipient');
    }
  });

  it('stops catching when catch_all is turned off', async () => {
    expect((await h.request('PATCH', `/v1/mailboxes/${catchAll}`, { catch_all: false })).status).toBe(200);
    const res = await inbound(h, rawEmail({ from: 'buyer@x.test', to: 'anything@shop.test', messageId: 'catch-5@x.test' }));
    expect(res.status).toBe(422);
    expect((await h.request('PATCH', `/v1/mailboxes/${catchAll}`, { catch_all: true })).status).toBe(200);
  });
});

describe('catch-all across organizations', () => {
  let otherKey: string;
  const asOther = (method: string, url: string, body?: unknown) => h.request(method, url, body, { authorization: `Bearer ${otherKey}` });
  beforeAll(async () => {
    otherKey = await h.otherOrg();
    const idn = await asOther('POST', '/v1/identities', { handle: 'other' });
    expect(idn.status).toBe(201);
    // The other organization's catch-alls: one on its own domain, one on shop.test, whose
    // mailboxes this organization had first.
    for (const address of ['all@other-org.test', 'grab@shop.test']) {
      const mbx = await asOther('POST', '/v1/mailboxes', { identity_id: idn.body.id, address, catch_all: true });
      expect(mbx.status).toBe(201);
      expect(mbx.body.catch_all).toBe(true);
    }
  });

  it('never receives mail for a domain another organization had first', async () => {
    const upload = (to: string, key: string) => h.request('POST', '/v1/inbound/email', rawEmail({ from: 'buyer@x.test', to, messageId: `org-${to}-${key.slice(-4)}` }), {
      'content-type': 'message/rfc822', authorization: `Bearer ${key}`,
    });
    // This organization's own catch-all still gets shop.test's unknown addresses.
    const ours = await upload('stray@shop.test', h.key);
    expect(ours.status).toBe(201);
    expect(ours.body.results[0].mailbox_id).toBe(catchAll);
    // Uploaded by the other organization: shop.test is not its domain, so nothing of its receives it.
    const theirs = await upload('stray2@shop.test', otherKey);
    expect(theirs.status).toBe(422);
    expect(theirs.body.code).toBe('unknown_recipient');
    // Its catch-all on its own domain works for it, and never for this organization.
    expect((await upload('anyone@other-org.test', otherKey)).status).toBe(201);
    expect((await upload('anyone2@other-org.test', h.key)).status).toBe(422);
  });
});
