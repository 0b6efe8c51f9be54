/**
 * Full-text search through the API: `q` on GET /v1/conversations finds conversations by
 * the subject, body, addresses and display names of their messages, combines with the
 * other filters, identity scope and keyset paging, never crosses organizations, never
 * fails on odd input, and gives each result a highlighted snippet.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let support: { identityId: string; mailboxId: string };
let sales: { identityId: string; mailboxId: string };
/** Conversation ids by name. */
const conv: Record<string, string> = {};

async function receive(name: string, mail: Parameters<typeof rawEmail>[0]) {
  const res = await inbound(h, rawEmail(mail));
  expect(res.status).toBe(201);
  conv[name] = res.body.results[0].conversation_id;
  return res.body.results[0] as { conversation_id: string; message_id: string };
}

const search = async (q: string, extra = '', key?: string) => {
  const res = await h.request('GET', `/v1/conversations?q=${encodeURIComponent(q)}${extra}`, undefined, key ? { authorization: `Bearer ${key}` } : {});
  expect(res.status).toBe(200);
  return res.body as { data: any[]; next_cursor: string | null; has_more: boolean };
};
const found = async (q: string, extra = '', key?: string) => (await search(q, extra, key)).data.map((c) => c.id).sort();
const names = (...n: string[]) => n.map((x) => conv[x]!).sort();

beforeAll(async () => {
  h = await harness();
  support = await identityWithMailbox(h, 'help@shop.test', 'help');
  sales = await identityWithMailbox(h, 'sales@shop.test', 'sales');
  await receive('lamp', { from: 'Ann Lee <ann@buyer.test>', to: 'help@shop.test', subject: 'Broken lamp', messageId: 'l1@buyer.test', body: 'The shade cracked in transit.' });
  await receive('refund', { from: 'Bob Stone <bob@mail.corp.test>', to: 'help@shop.test', subject: 'Refund request', messageId: 'r1@corp.test', body: 'Please refund order 4711, the invoice is attached.' });
  await receive('resume', { from: 'Zoë Brandt <zoe@école.test>', to: 'sales@shop.test', subject: 'Résumé', messageId: 'z1@ecole.test', body: 'My résumé, for the sales position.' });
  const html = [
    'From: news@letters.test', 'To: help@shop.test', 'Subject: Weekly digest', 'Message-ID: <h1@letters.test>', 'MIME-Version: 1.0',
    'Content-Type: text/html; charset=utf-8', '', '<html><body><p>Our <b>springtime</b> catalogue</p></body></html>', '',
  ].join('\r\n');
  const res = await inbound(h, html);
  conv.html = res.body.results[0].conversation_id;
});
afterAll(async () => { await h.close(); });

describe('what q finds', () => {
  it('finds a conversation by a word of its subject or body, ignoring case and accents', async () => {
    expect(await found('lamp')).toEqual(names('lamp'));
    expect(await found('CRACKED')).toEqual(names('lamp'));
    expect(await found('resume')).toEqual(names('resume'));
    expect(await found('RÉSUMÉ')).toEqual(names('resume'));
    expect(await found('4711')).toEqual(names('refund'));
  });

  it('finds words of an HTML-only body', async () => {
    expect(await found('springtime')).toEqual(names('html'));
  });

  it('finds by counterpart address, its domain and display name', async () => {
    expect(await found('ann@buyer.test')).toEqual(names('lamp'));
    expect(await found('corp.test')).toEqual(names('refund'));
    expect(await found('Stone')).toEqual(names('refund'));
    expect(await found('zoe')).toEqual(names('resume'));
  });

  it('needs every word in one message', async () => {
    expect(await found('refund invoice')).toEqual(names('refund'));
    expect(await found('refund lamp')).toEqual([]);
    expect(await found('nothingmatchesthis')).toEqual([]);
  });

  it('matches words by prefix with a trailing *', async () => {
    expect(await found('invoi*')).toEqual(names('refund'));
    expect(await found('invoi')).toEqual([]);
    expect(await found('spring*')).toEqual(names('html'));
  });

  it('finds a reply sent through the API, and the conversation of a later inbound reply', async () => {
    const sent = await h.request('POST', `/v1/conversations/${conv.lamp}/messages`, { text: 'A replacement shade ships tomorrow.' });
    expect(sent.status).toBe(202);
    expect(await found('replacement')).toEqual(names('lamp'));
    await inbound(h, rawEmail({
      from: 'ann@buyer.test', to: 'help@shop.test', subject: 'Re: Broken lamp', messageId: 'l2@buyer.test',
      inReplyTo: 'l1@buyer.test', references: '<l1@buyer.test>', body: 'Thanks, much appreciated.',
    }));
    expect(await found('appreciated')).toEqual(names('lamp'));
  });

  it('combines with the other filters', async () => {
    expect(await found('shop', `&identity_id=${sales.identityId}`)).toEqual(names('resume'));
    expect(await found('shop', `&identity_id=${support.identityId}`)).toEqual(names('lamp', 'refund', 'html'));
    const archived = await h.request('POST', `/v1/conversations/${conv.refund}/archive`, { archived: true });
    expect(archived.status).toBe(200);
    expect(await found('refund', '&archived=false')).toEqual([]);
    expect(await found('refund', '&archived=true')).toEqual(names('refund'));
    await h.request('POST', `/v1/conversations/${conv.refund}/archive`, { archived: false });
  });
});

describe('snippets', () => {
  it('gives each result the latest matching message, with the match marked and the rest escaped', async () => {
    const first = await receive('escape', { from: 'kim@k.test', to: 'help@shop.test', subject: 'Tags', messageId: 'e1@k.test', body: 'Is <b>bold</b> & wobbly allowed?' });
    const [hit] = (await search('wobbly')).data;
    expect(hit.id).toBe(first.conversation_id);
    expect(hit.search).toEqual({ message_id: first.message_id, snippet: 'Is &lt;b&gt;bold&lt;/b&gt; &amp; <mark>wobbly</mark> allowed?' });

    const later = await inbound(h, rawEmail({
      from: 'kim@k.test', to: 'help@shop.test', subject: 'Re: Tags', messageId: 'e2@k.test', inReplyTo: 'e1@k.test',
      references: '<e1@k.test>', body: 'Still wobbly, sorry.',
    }));
    const [again] = (await search('wobbly')).data;
    expect(again.search).toEqual({ message_id: later.body.results[0].message_id, snippet: 'Still <mark>wobbly</mark>, sorry.' });
  });

  it('marks a match in the subject or the addresses when the body does not hold it', async () => {
    const [bySubject] = (await search('broken')).data;
    expect(bySubject.search.snippet).toMatch(/<mark>Broken<\/mark> lamp$/);
    const [byAddress] = (await search('letters')).data;
    expect(byAddress.search.snippet).toBe('news@<mark>letters</mark>.test, help@shop.test');
  });

  it('leaves search out of lists without q', async () => {
    const all = (await h.request('GET', '/v1/conversations')).body.data;
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((c: any) => c.search === undefined)).toBe(true);
  });
});

describe('paging', () => {
  it('returns every match once, newest activity first, across pages', async () => {
    const expected: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await receive(`page${i}`, { from: `p${i}@pages.test`, to: i % 2 ? 'sales@shop.test' : 'help@shop.test', subject: `Paging ${i}`, messageId: `pg${i}@pages.test`, body: 'pagination marker' });
      expected.push(r.conversation_id);
      await receive(`noise${i}`, { from: `n${i}@noise.test`, to: 'help@shop.test', subject: `Noise ${i}`, messageId: `nz${i}@noise.test`, body: 'unrelated' });
    }
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const body: { data: any[]; next_cursor: string | null } = await search('pagination', `&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...body.data);
      expect(body.data.every((c) => c.search.snippet.includes('<mark>pagination</mark>'))).toBe(true);
      cursor = body.next_cursor;
    } while (cursor);
    expect(seen.map((c) => c.id).sort()).toEqual([...expected].sort());
    const order = seen.map((c) => [c.last_event_at, c.id].join(' '));
    expect(order).toEqual([...order].sort().reverse());
  });
});

describe('who sees what', () => {
  it('keeps a key scoped to one identity to that identity, and refuses another identity', async () => {
    const scoped = await createApiKey(h.store.db, h.orgId, 'sales only', { identityId: sales.identityId });
    expect(await found('shop', '', scoped.key)).toEqual(names('resume', 'page1', 'page3', 'page5'));
    expect(await found('lamp', '', scoped.key)).toEqual([]);
    const other = await h.request('GET', `/v1/conversations?q=lamp&identity_id=${support.identityId}`, undefined, { authorization: `Bearer ${scoped.key}` });
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('forbidden_identity');
  });

  it('never finds another organization\'s mail', async () => {
    const otherKey = await h.otherOrg();
    const as = { authorization: `Bearer ${otherKey}` };
    const idn = await h.request('POST', '/v1/identities', { handle: 'x' }, as);
    await h.request('POST', '/v1/mailboxes', { identity_id: idn.body.id, address: 'desk@elsewhere.test' }, as);
    await h.request('POST', '/v1/inbound/email', rawEmail({ from: 'ann@buyer.test', to: 'desk@elsewhere.test', subject: 'Broken lamp elsewhere', messageId: 'x1@buyer.test', body: 'secretword' }), { ...as, 'content-type': 'message/rfc822' });
    expect(await found('secretword')).toEqual([]);
    expect(await found('lamp')).toEqual(names('lamp'));
    const theirs = await found('lamp', '', otherKey);
    expect(theirs).toHaveLength(1);
    expect(theirs).not.toContain(conv.lamp);
  });
});

describe('bad q', () => {
  it('is 400 validation_failed when q has no letter or digit, and when it is empty or too long', async () => {
    for (const q of ['***', '"" -- ()', '', 'a'.repeat(201)]) {
      const res = await h.request('GET', `/v1/conversations?q=${encodeURIComponent(q)}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'validation_failed', param: expect.stringMatching(/q/) });
    }
    const res = await h.request('GET', '/v1/conversations?q=%2A%2A');
    expect(res.body.fix).toMatch(/letters or digits/);
  });

  it('never fails with a 500, whatever the query', async () => {
    const odd = fc.oneof(
      fc.string({ minLength: 1, maxLength: 200, unit: 'grapheme' }),
      fc.array(fc.constantFrom('"', "'", '*', '\\', '(', ')', ':', '^', '-', '+', 'AND', 'OR', 'NOT', 'NEAR', '&', '|', '!', '<->', ' ', 'lamp', '\u0000', 'é'), { minLength: 1, maxLength: 40 }).map((a) => a.join('')),
    ).filter((s) => s.length >= 1 && s.length <= 200);
    await fc.assert(fc.asyncProperty(odd, async (q) => {
      const res = await h.request('GET', `/v1/conversations?q=${encodeURIComponent(q)}`);
      expect([200, 400]).toContain(res.status);
      if (res.status === 200) expect(Array.isArray(res.body.data)).toBe(true);
    }), { numRuns: 150 });
  });
});
