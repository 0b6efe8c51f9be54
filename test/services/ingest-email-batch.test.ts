/**
 * The batched email write path (services/ingest-email-batch.ts) against the path it
 * replaces for imports, one `ingestEmail` per message, on a real store (both stores):
 * the same mail stored both ways gives the same conversations, events, summaries, index
 * rows, contacts, participants, blocking and search, whatever the mail (replies before
 * their parents, copies, missing Message-IDs, the mailbox's own sent mail, messages that
 * link two conversations) and wherever the batches are cut. And every summary it writes
 * is the fold of its timeline.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldTimeline } from '../../src/domain/projection.js';
import { parseSearchQuery } from '../../src/domain/search-text.js';
import { parseEmail } from '../../src/email/parse.js';
import { createContactRule } from '../../src/services/contact-rules.js';
import { ensureMailbox } from '../../src/services/identities.js';
import { ingestEmail, type ArrivalFacts, type IngestResult } from '../../src/services/ingest-email.js';
import { ingestEmailBatch, type BatchMessage } from '../../src/services/ingest-email-batch.js';
import { createOrganization } from '../../src/services/tenants.js';
import type { AccountRow } from '../../src/store/identities.js';
import { searchIndexOf } from '../../src/store/search.js';
import { inOrgTransaction } from '../../src/store/sequences.js';
import { eventFromRow, summaryOf } from '../../src/store/timeline.js';
import { harness, type Harness } from '../helpers.js';

let h: Harness;
beforeAll(async () => { h = await harness(); });
afterAll(async () => { await h.close(); });

const POLICY = { threadBySubject: false, subjectFallbackWindowMs: 0 };
const PEOPLE = ['ann@example.com', 'bob@example.org', 'cy@blocked.test', 'dee@example.net'];

/** One generated message: ids are indexes into a small pool, so replies, copies and links happen often. */
interface Spec {
  readonly own: number | null;
  readonly inReplyTo: number | null;
  readonly references: readonly number[];
  /** Index into PEOPLE, or -1: sent by the mailbox itself (outbound history). */
  readonly from: number;
  readonly cc: readonly number[];
  readonly day: number;
  readonly attachment: boolean;
  /** It arrived (SMTP, HTTP) rather than being imported: inbound whatever its From, stored with the receiver's header. */
  readonly arrived: boolean;
}

const spec: fc.Arbitrary<Spec> = fc.record({
  own: fc.option(fc.nat(14), { freq: 6 }),
  inReplyTo: fc.option(fc.nat(14), { freq: 2 }),
  references: fc.array(fc.nat(14), { maxLength: 3 }),
  from: fc.integer({ min: -1, max: PEOPLE.length - 1 }),
  cc: fc.array(fc.nat(PEOPLE.length - 1), { maxLength: 2 }),
  day: fc.nat(27),
  attachment: fc.boolean(),
  arrived: fc.boolean(),
});

let runs = 0;

/** The raw message of a spec for the mailbox `me`; `n` makes its body (and search word) unique. */
function raw(s: Spec, me: string, n: number): Buffer {
  const id = (k: number) => `<m${k}@pool.test>`;
  const from = s.from < 0 ? me : PEOPLE[s.from]!;
  const to = s.from < 0 ? PEOPLE[(n % PEOPLE.length)]! : me;
  const body = `Word${n}unique and some text.`;
  const headers = [
    `From: Person ${s.from} <${from}>`, `To: ${to}`,
    ...(s.cc.length ? [`Cc: ${s.cc.map((c) => PEOPLE[c]).join(', ')}`] : []),
    `Subject: Thread ${s.own ?? 'x'}`,
    `Date: ${new Date(Date.UTC(2020, 0, 1 + s.day, 10, n % 60)).toUTCString()}`,
    ...(s.own !== null ? [`Message-ID: ${id(s.own)}`] : []),
    ...(s.inReplyTo !== null ? [`In-Reply-To: ${id(s.inReplyTo)}`] : []),
    ...(s.references.length ? [`References: ${s.references.map(id).join(' ')}`] : []),
    'MIME-Version: 1.0',
  ];
  const lines = s.attachment
    ? [...headers, 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', '', body,
      '--b', 'Content-Type: application/octet-stream', 'Content-Disposition: attachment; filename="a.bin"', 'Content-Transfer-Encoding: base64', '',
      Buffer.from(`attachment ${n}`).toString('base64'), '--b--', '']
    : [...headers, 'Content-Type: text/plain; charset=utf-8', '', body, ''];
  return Buffer.from(lines.join('\r\n'));
}

/** A fresh organization with one mailbox and a rule blocking one of PEOPLE. */
async function mailbox(tag: string): Promise<AccountRow> {
  const { orgId } = await createOrganization(h.store, `batch ${tag}`);
  const account = await ensureMailbox(h.store, orgId, `box-${tag}@shop.test`);
  await createContactRule(h.store.db, orgId, { action: 'block', kind: 'domain', pattern: 'blocked.test' });
  return account;
}

/** Stores `specs` one `ingestEmail` per message (one transaction), the path the batch replaces. */
async function oneByOne(account: AccountRow, messages: readonly BatchMessage[]): Promise<IngestResult[]> {
  return inOrgTransaction(h.store, account.org_id, async (tx) => {
    const out: IngestResult[] = [];
    for (const m of messages) out.push(await ingestEmail(tx, POLICY, account, m.raw, m.parsed, { at: 'date', snippet: m.snippet, arrival: m.arrival }));
    return out;
  });
}

/** Stores `messages` with the batch path, one transaction per slice between `cuts`. */
async function batched(account: AccountRow, messages: readonly BatchMessage[], cuts: readonly number[]): Promise<IngestResult[]> {
  const bounds = [0, ...[...new Set(cuts.map((c) => c % (messages.length + 1)))].sort((a, b) => a - b), messages.length];
  const out: IngestResult[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const slice = messages.slice(bounds[i], bounds[i + 1]);
    out.push(...await inOrgTransaction(h.store, account.org_id, (tx) => ingestEmailBatch(tx, POLICY, account, slice, { at: 'date' })));
  }
  return out;
}

/**
 * Orders entries whose keys tie: conversations merged into the same one share a key (they
 * have no messages of their own), and the store returns rows in no set order (PostgreSQL's
 * moves as they are updated), so the two runs are compared as multisets.
 */
const byJson = (a: object, b: object): number => JSON.stringify(a).localeCompare(JSON.stringify(b));

/**
 * Everything the two paths write for an organization, with generated ids replaced by
 * what they stand for: a conversation by the sorted Message-IDs of its messages, a
 * message by its Message-ID (or body), an address of the mailbox by `ME`.
 */
async function snapshot(account: AccountRow) {
  const db = h.store.db;
  const org = account.org_id;
  const me = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(account.address, 'ME').replaceAll(account.id, 'ACCOUNT'));
  const messages = await db.selectFrom('messages').innerJoin('events', 'events.id', 'messages.event_id')
    .select(['messages.id', 'messages.conversation_id', 'messages.direction', 'events.data']).where('messages.org_id', '=', org).execute();
  const name = new Map<string, string>();
  for (const m of messages) {
    const data = JSON.parse(m.data);
    name.set(m.id, `${data.provider_message_id ?? ''}|${data.text.trim()}`);
  }
  const conversations = await db.selectFrom('conversations').selectAll().where('org_id', '=', org).execute();
  const key = new Map<string, string>();
  for (const c of conversations) {
    if (c.merged_into === null) key.set(c.id, messages.filter((m) => m.conversation_id === c.id).map((m) => name.get(m.id)).sort().join(' + '));
  }
  const root = (id: string): string => {
    const c = conversations.find((x) => x.id === id)!;
    return c.merged_into === null ? c.id : root(c.merged_into);
  };
  for (const c of conversations) if (c.merged_into !== null) key.set(c.id, `merged into ${key.get(root(c.id))}`);
  const events = (await db.selectFrom('events').selectAll().where('org_id', '=', org).orderBy('seq').execute()).map(eventFromRow);
  const rename = (v: unknown) => me(JSON.parse(JSON.stringify(v, (k, x) => {
    if (typeof x !== 'string') return x;
    if (name.has(x)) return name.get(x);
    if (key.has(x)) return key.get(x);
    if (x.startsWith('sha256:')) return 'sha256'; // of bytes that name the mailbox
    return /^(evt|med|ct|conv|msg)_/.test(x) ? k : x;
  })));
  const contactRows = await db.selectFrom('contact_addresses').innerJoin('contacts', 'contacts.id', 'contact_addresses.contact_id')
    .select(['contact_addresses.address', 'contacts.display_name', 'contacts.id']).where('contacts.org_id', '=', org).orderBy('address').execute();
  const contacts = contactRows.map(({ address, display_name }) => ({ address, display_name }));
  const addressOf = new Map(contactRows.map((r) => [r.id, r.address]));
  const ids = await db.selectFrom('email_message_ids').select(['message_id', 'conversation_id', 'stored'])
    .where('org_id', '=', org).orderBy('message_id').execute();
  const participants = await db.selectFrom('conversation_participants').select(['conversation_id', 'address'])
    .where('org_id', '=', org).execute();
  const media = await db.selectFrom('media').select(['message_id', 'filename', 'size_bytes']).where('org_id', '=', org).execute();
  const raws = await db.selectFrom('raw_messages').select(['message_id', 'raw']).where('org_id', '=', org).execute();
  return {
    conversations: rename(conversations.map((c) => ({
      key: key.get(c.id), merged_into: c.merged_into, summary: summaryOf(c), counterpart: c.counterpart, subject: c.subject,
      is_blocked: c.is_blocked, contact: c.contact_id ? addressOf.get(c.contact_id) ?? 'missing' : null,
    }))).sort((a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key) || byJson(a, b)),
    // A merge is stamped with the clock time of its write, which differs between the two runs.
    events: rename(events.map((e) => ({ conversation: e.conversation_id, type: e.type, at: e.type === 'merged' ? 'now' : e.at, data: e.data }))),
    seqs: events.map((e) => e.seq),
    ids: rename(ids).map((r: object) => JSON.stringify(r)).sort(),
    contacts: me(contacts),
    participants: rename(participants).map((p: { conversation_id: string; address: string }) => `${p.conversation_id} ${p.address}`).sort(),
    media: rename(media).map((m: object) => JSON.stringify(m)).sort(),
    raw: me(raws.map((r) => `${name.get(r.message_id)}: ${Buffer.from(r.raw).toString('utf8')}`).sort()),
  };
}

/** Each message is found by its own word, in its conversation; every summary is the fold of its timeline. */
async function checkSearchAndFold(account: AccountRow, count: number): Promise<void> {
  const db = h.store.db;
  const rows = await db.selectFrom('conversations').selectAll().where('org_id', '=', account.org_id).where('merged_into', 'is', null).execute();
  const ids = rows.map((r) => r.id);
  const stored = await db.selectFrom('messages').innerJoin('events', 'events.id', 'messages.event_id')
    .select(['messages.id', 'messages.conversation_id', 'events.data']).where('messages.org_id', '=', account.org_id).execute();
  for (const m of stored) {
    const word = /Word\d+unique/.exec(JSON.parse(m.data).text)![0];
    const hits = await searchIndexOf(db).latestMatches(db, ids, parseSearchQuery(word));
    expect([...hits], `search for ${word}`).toEqual([[m.conversation_id, m.id]]);
  }
  expect(stored.length).toBeLessThanOrEqual(count);
  const all = await db.selectFrom('conversations').select(['id', 'merged_into']).where('org_id', '=', account.org_id).execute();
  const root = (id: string): string => {
    const into = all.find((c) => c.id === id)!.merged_into;
    return into === null ? id : root(into);
  };
  for (const row of rows) {
    // Its own timeline and those of every conversation merged into it, directly or along a chain.
    const parts = all.filter((c) => root(c.id) === row.id).map((c) => c.id);
    const timeline = (await db.selectFrom('events').selectAll().where('conversation_id', 'in', parts).execute()).map(eventFromRow);
    expect(summaryOf(row), `summary of ${row.id}`).toEqual(foldTimeline(timeline).get(row.id));
  }
}

async function parsedAll(specs: readonly Spec[], me: string): Promise<BatchMessage[]> {
  return Promise.all(specs.map(async (s, n) => {
    const bytes = raw(s, me, n);
    return { raw: bytes, parsed: await parseEmail(bytes), ...(s.arrived ? { arrival: arrivalOf(n) } : {}) };
  }));
}

/** What the receiving side learned of message `n`, varied so that each fact must reach the store. */
function arrivalOf(n: number): ArrivalFacts {
  const none = { result: 'none', domain: null };
  return {
    authentication: { spf: { result: n % 2 ? 'pass' : 'fail', domain: 'example.com' }, dkim: [{ ...none, selector: null }], dmarc: { ...none, policy: null }, arc: { result: 'none' }, aligned: false },
    spoofed: n % 3 === 0,
    tag: n % 4 === 0 ? `tag${n}` : null,
    stored: Buffer.from(`Authentication-Results: test; spf=${n % 2 ? 'pass' : 'fail'}\r\n`),
    autoRepliesStopNoReply: n % 5 !== 0,
  };
}

describe('ingestEmailBatch', () => {
  it('property: stores what one ingestEmail per message stores, wherever the batches are cut', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(spec, { minLength: 1, maxLength: 24 }), fc.array(fc.nat(30), { maxLength: 3 }),
      async (specs, cuts) => {
        const run = ++runs;
        const a = await mailbox(`${run}a`);
        const b = await mailbox(`${run}b`);
        const expected = await oneByOne(a, await parsedAll(specs, a.address));
        const actual = await batched(b, await parsedAll(specs, b.address), cuts);
        expect(actual.map((r) => [r.status, r.status === 'stored' && r.newConversation]))
          .toEqual(expected.map((r) => [r.status, r.status === 'stored' && r.newConversation]));
        const [want, got] = [await snapshot(a), await snapshot(b)];
        expect(got.seqs).toEqual(got.seqs.map((_, i) => i + 1)); // gap-free, in input order
        expect(got).toEqual(want);
        await checkSearchAndFold(b, specs.length);
      },
    ), { numRuns: 25 });
  });

  it('reads ahead in windows: a long batch of replies threads as one conversation per thread', async () => {
    // 150 messages in 10 threads, each reply naming its parent; some replies come before their parents.
    const specs: Spec[] = Array.from({ length: 150 }, (_, n) => ({
      own: n, inReplyTo: n >= 10 ? n - 10 : null, references: [], from: n % 3, cc: [], day: n % 28, attachment: false, arrived: false,
    }));
    const order = [...specs.keys()].sort((x, y) => ((x * 37) % 150) - ((y * 37) % 150));
    const shuffled = order.map((k) => specs[k]!);
    const a = await mailbox('long-a');
    const b = await mailbox('long-b');
    // Message-IDs here run past the pool of the property test; raw() names them m<k> all the same.
    await oneByOne(a, await parsedAll(shuffled, a.address));
    await batched(b, await parsedAll(shuffled, b.address), []);
    const got = await snapshot(b);
    expect(got).toEqual(await snapshot(a));
    expect(got.conversations.filter((c: { merged_into: string | null }) => c.merged_into === null)).toHaveLength(10);
    await checkSearchAndFold(b, specs.length);
  });
});
