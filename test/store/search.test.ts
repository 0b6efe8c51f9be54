/**
 * The search index of each store: the three ways the list asks it (fetch the matching
 * keys, test walked rows against them, ask the index per walked row) find exactly the
 * conversations a plain reading of the messages finds; the latest match is the newest
 * matching message; the migration indexes mail stored before it; deleting an identity
 * drops its entries.
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageData } from '../../src/domain/events.js';
import { messageTokens, parseSearchQuery, termMatches, type SearchTerm } from '../../src/domain/search-text.js';
import { newId } from '../../src/ids.js';
import { deleteIdentity } from '../../src/services/identities.js';
import { migrations, POSTGRES_TYPES, SQLITE_TYPES } from '../../src/store/migrations.js';
import { createConversation, listConversations, whereFilter } from '../../src/store/conversations.js';
import { searchIndexOf, type SearchScope } from '../../src/store/search.js';
import { inOrgTransaction } from '../../src/store/sequences.js';
import { appendEvents } from '../../src/store/timeline.js';
import { harness, identityWithMailbox, type Harness } from '../helpers.js';

const VOCABULARY = ['amber', 'birch', 'cedar', 'delta', 'ember', 'fjord', 'glade', 'heron'];

let h: Harness;
let identities: string[];
/** What was indexed: conversation → identity and its messages' texts, oldest first. */
const corpus = new Map<string, { identityId: string; messages: { id: string; data: MessageData }[] }>();

function messageData(text: string, subject: string): MessageData {
  return {
    message_id: newId('msg'), direction: 'inbound', channel: 'email', account_id: 'acct_x',
    from: { address: 'someone@example.test', name: null }, to: [], cc: [], reply_to: [], subject, text, html: null, snippet: text,
    media: [], provider_message_id: null, status: 'delivered', headers: { message_id: null, in_reply_to: null, references: [] },
    sent_at: null, parse_problems: [],
  };
}

/** Stores a conversation with messages through appendEvents, as the services do. */
async function addConversation(identityId: string, texts: string[]): Promise<string> {
  return inOrgTransaction(h.store, h.orgId, async (tx) => {
    let row = await createConversation(tx, {
      orgId: h.orgId, identityId, accountId: 'acct_x', channel: 'email', subject: 'subject', counterpart: null, contactId: null,
      at: new Date().toISOString(),
    });
    const messages = texts.map((t) => ({ id: '', data: messageData(t, 'subject') }));
    for (const m of messages) {
      m.id = m.data.message_id;
      row = (await appendEvents(tx, row, [{ type: 'message', at: new Date().toISOString(), data: m.data }])).conversation;
    }
    corpus.set(row.id, { identityId, messages });
    return row.id;
  });
}

/** The conversations a plain reading of the corpus finds. */
function expected(scope: SearchScope, terms: readonly SearchTerm[]): string[] {
  return [...corpus].filter(([, c]) => (scope.identityId === undefined || c.identityId === scope.identityId)
    && c.messages.some((m) => {
      const tokens = messageTokens(m.data);
      return terms.every((t) => tokens.some((tok) => termMatches(t, tok)));
    })).map(([id]) => id).sort();
}

beforeAll(async () => {
  h = await harness();
  identities = [(await identityWithMailbox(h, 'one@shop.test', 'one')).identityId, (await identityWithMailbox(h, 'two@shop.test', 'two')).identityId];
  const words = fc.array(fc.constantFrom(...VOCABULARY), { minLength: 1, maxLength: 4 }).map((w) => w.join(' '));
  const conversations = fc.sample(fc.tuple(fc.nat(1), fc.array(words, { minLength: 1, maxLength: 4 })), { numRuns: 60, seed: 7 });
  for (const [who, texts] of conversations) await addConversation(identities[who]!, texts);
});
afterAll(async () => { await h.close(); });

const query = fc.tuple(
  fc.array(fc.oneof(fc.constantFrom(...VOCABULARY), fc.constantFrom(...VOCABULARY).map((w) => `${w.slice(0, 2)}*`)), { minLength: 1, maxLength: 2 }),
  fc.option(fc.nat(1), { nil: undefined }),
).map(([words, who]) => ({ terms: parseSearchQuery(words.join(' ')), scope: { orgId: h.orgId, identityId: who === undefined ? undefined : identities[who] } }));

describe('the three ways of asking the index', () => {
  it('find the same conversations as reading every message', async () => {
    const index = searchIndexOf(h.store.db);
    const list = async (clause: Parameters<typeof whereFilter>[3], scope: SearchScope, terms: readonly SearchTerm[]) => {
      const rows = await whereFilter(h.store.db.selectFrom('conversations').select('id'), h.orgId, { identityId: scope.identityId, q: terms }, clause).execute();
      return rows.map((r) => r.id).sort();
    };
    await fc.assert(fc.asyncProperty(query, async ({ terms, scope }) => {
      const want = expected(scope, terms);
      const set = await index.matching(h.store.db, scope, terms, 1_000);
      expect(set?.size).toBe(want.length);
      expect(await list(set!.fetch(), scope, terms)).toEqual(want);
      expect(await list(set!.test(), scope, terms)).toEqual(want);
      expect(await list(index.matches(terms), scope, terms)).toEqual(want);
      if (want.length > 0) expect(await index.matching(h.store.db, scope, terms, want.length - 1)).toBeNull();
    }), { numRuns: 40 });
  });

  it('page through every match once with listConversations', async () => {
    const terms = parseSearchQuery('amber');
    const want = expected({ orgId: h.orgId }, terms);
    expect(want.length).toBeGreaterThan(3);
    const seen: string[] = [];
    let after: { lastEventAt: string; id: string } | undefined;
    for (;;) {
      const rows = await listConversations(h.store.db, h.orgId, { q: terms, limit: 3, after });
      seen.push(...rows.slice(0, 3).map((r) => r.id));
      if (rows.length <= 3) break;
      after = { lastEventAt: rows[2]!.last_event_at, id: rows[2]!.id };
    }
    expect(seen.sort()).toEqual(want);
  });

  it('name the newest matching message of each conversation', async () => {
    const id = await addConversation(identities[0]!, ['zebra one', 'other', 'zebra two', 'nothing']);
    const latest = await searchIndexOf(h.store.db).latestMatches(h.store.db, [id, 'conv_missing'], parseSearchQuery('zebra'));
    expect([...latest]).toEqual([[id, corpus.get(id)!.messages[2]!.id]]);
  });
});

describe('migration 0005_search', () => {
  it('indexes the mail stored before it', async () => {
    const terms = parseSearchQuery('birch');
    const before = (await listConversations(h.store.db, h.orgId, { q: terms, limit: 200 })).map((r) => r.id).sort();
    expect(before.length).toBeGreaterThan(0);
    if (h.store.dialect === 'postgres') {
      await sql`drop table search_messages`.execute(h.store.db);
    } else {
      for (const table of ['search_fts', 'search_messages']) await sql`drop table ${sql.table(table)}`.execute(h.store.db);
      await sql`drop table search_conversations`.execute(h.store.db);
    }
    // Run the migration's own step again (the migrator refuses to re-run one that later ones follow).
    await migrations(h.store.dialect === 'postgres' ? POSTGRES_TYPES : SQLITE_TYPES)['0005_search']!.up(h.store.db as never);
    const after = (await listConversations(h.store.db, h.orgId, { q: terms, limit: 200 })).map((r) => r.id).sort();
    expect(after).toEqual(before);
    expect(after).toEqual(expected({ orgId: h.orgId }, terms));
  });
});

describe('deleting an identity', () => {
  it('drops its conversations from the index and keeps the others', async () => {
    const gone = (await identityWithMailbox(h, 'gone@shop.test', 'gone')).identityId;
    const id = await addConversation(gone, ['quokka farewell']);
    const kept = await addConversation(identities[0]!, ['quokka stays']);
    const terms = parseSearchQuery('quokka');
    const index = searchIndexOf(h.store.db);
    expect((await index.matching(h.store.db, { orgId: h.orgId }, terms, 100))?.size).toBe(2);
    await deleteIdentity(h.store, h.orgId, gone);
    expect((await index.matching(h.store.db, { orgId: h.orgId }, terms, 100))?.size).toBe(1);
    expect([...(await index.latestMatches(h.store.db, [id, kept], terms)).keys()]).toEqual([kept]);
  });
});
