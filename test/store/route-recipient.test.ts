/**
 * routeRecipient (store/identities.ts), the one routing rule of SMTP `RCPT TO` and
 * `POST /v1/inbound/email`: exact address, then plus-addressing, then the domain's
 * catch-all (the oldest, of the organization whose mailbox on the domain is the oldest).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { routeRecipient } from '../../src/store/identities.js';
import { harness, identityWithMailbox, type Harness } from '../helpers.js';

let h: Harness;
beforeEach(async () => { h = await harness(); });
afterEach(async () => { await h.close(); });

const catchAllOn = async (mailboxId: string, key = h.key) => {
  const res = await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { catch_all: true }, { authorization: `Bearer ${key}` });
  expect(res.status).toBe(200);
};

/** The mailbox id and tag `address` routes to, or null. */
const route = async (address: string) => {
  const r = await routeRecipient(h.store.db, address);
  return r && { mailbox: r.account.id, tag: r.tag, recipient: r.recipient };
};

describe('routeRecipient', () => {
  it('matches the exact address, case-insensitively, with no tag', async () => {
    const { mailboxId } = await identityWithMailbox(h, 'support@shop.test', 'support');
    expect(await route('Support@SHOP.test')).toEqual({ mailbox: mailboxId, tag: null, recipient: 'support@shop.test' });
    expect(await route('nobody@shop.test')).toBeNull();
    expect(await route('not-an-address')).toBeNull();
  });

  it('routes local+tag@domain to local@domain, splitting at the first + and lower-casing the tag', async () => {
    const { mailboxId } = await identityWithMailbox(h, 'support@shop.test', 'support');
    expect(await route('support+Orders@shop.test')).toEqual({ mailbox: mailboxId, tag: 'orders', recipient: 'support+orders@shop.test' });
    expect(await route('support+a+b@shop.test')).toMatchObject({ mailbox: mailboxId, tag: 'a+b' });
    expect(await route('support+@shop.test')).toMatchObject({ mailbox: mailboxId, tag: null });
    expect(await route('+orders@shop.test')).toBeNull();
    expect(await route('support+orders@other.test')).toBeNull();
  });

  it('prefers an exact plus-address mailbox over plus-addressing', async () => {
    await identityWithMailbox(h, 'support@shop.test', 'support');
    const { mailboxId } = await identityWithMailbox(h, 'support+vip@shop.test', 'vip');
    expect(await route('support+vip@shop.test')).toMatchObject({ mailbox: mailboxId, tag: null });
  });

  it('falls back to the oldest catch-all of the exact domain', async () => {
    await identityWithMailbox(h, 'support@shop.test', 'support');
    const first = (await identityWithMailbox(h, 'first@shop.test', 'first')).mailboxId;
    const second = (await identityWithMailbox(h, 'second@shop.test', 'second')).mailboxId;
    expect(await route('anything@shop.test')).toBeNull();
    await catchAllOn(second);
    expect(await route('anything@shop.test')).toMatchObject({ mailbox: second, tag: null, recipient: 'anything@shop.test' });
    await catchAllOn(first);
    expect(await route('anything@shop.test')).toMatchObject({ mailbox: first });
    expect(await route('nobody+tag@shop.test')).toMatchObject({ mailbox: first, tag: null });
    expect(await route('anything@sub.shop.test')).toBeNull();
    expect(await route('anything@myshop.test')).toBeNull();
    expect(await route('anything@other.test')).toBeNull();
  });

  it('treats LIKE wildcards in the asked domain as plain characters', async () => {
    const { mailboxId } = await identityWithMailbox(h, 'all@shop.test', 'all');
    await catchAllOn(mailboxId);
    expect(await route('x@shop.test')).toMatchObject({ mailbox: mailboxId });
    for (const address of ['x@sh_p.test', 'x@%.test', 'x@%', 'x@shop.tes_', 'x@shop\\.test']) {
      expect(await route(address), address).toBeNull();
    }
  });

  it('never routes to another organization\'s catch-all on a domain whose oldest mailbox is not theirs', async () => {
    await identityWithMailbox(h, 'support@shop.test', 'support');
    const otherKey = await h.otherOrg();
    const asOther = (method: string, url: string, body?: unknown) => h.request(method, url, body, { authorization: `Bearer ${otherKey}` });
    const idn = await asOther('POST', '/v1/identities', { handle: 'squatter' });
    const grab = await asOther('POST', '/v1/mailboxes', { identity_id: idn.body.id, address: 'grab@shop.test', catch_all: true });
    expect(grab.status).toBe(201);
    const own = await asOther('POST', '/v1/mailboxes', { identity_id: idn.body.id, address: 'all@theirs.test', catch_all: true });
    expect(own.status).toBe(201);
    expect(await route('anything@shop.test')).toBeNull();
    expect(await route('anything@theirs.test')).toMatchObject({ mailbox: own.body.id });
    // Their exact address still routes to them: only the catch-all is bound to the domain's owner.
    expect(await route('grab@shop.test')).toMatchObject({ mailbox: grab.body.id });
  });
});
