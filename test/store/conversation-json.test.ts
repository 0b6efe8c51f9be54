/**
 * The API JSON the store keeps for list pages (store/conversation-json.ts) equals the
 * presenter's view of the same row (api/presenters.ts `conversationView`), for any values
 * of its columns, on both stores; it has exactly the resource's fields; and every write of
 * a conversation keeps it.
 */
import fc from 'fast-check';
import { CompiledQuery, createQueryId, sql, type Kysely, type KyselyPlugin, type RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationView } from '../../src/api/presenters.js';
import { Conversation } from '../../src/api/schemas.js';
import { createOrganization } from '../../src/services/tenants.js';
import { CONVERSATION_JSON_FIELDS, conversationJson, ensureConversationJson } from '../../src/store/conversation-json.js';
import { createConversation, listConversationJson, listConversations } from '../../src/store/conversations.js';
import type { Database } from '../../src/store/schema.js';
import { harness, identityWithMailbox, inbound, rawEmail, TEST_STORE, type Harness } from '../helpers.js';

let h: Harness;
let identity: { identityId: string; accountId: string };
beforeAll(async () => {
  h = await harness();
  const { identityId, mailboxId } = await identityWithMailbox(h, 'json@rows.test');
  identity = { identityId, accountId: mailboxId };
});
afterAll(async () => { await h.close(); });

/** Text that JSON must escape (quotes, backslashes, control characters) or may keep (U+2028, emoji), and any other; no NUL, which PostgreSQL text cannot hold. */
const text = fc.oneof(
  fc.string({ maxLength: 40, unit: 'grapheme' }),
  fc.string({ maxLength: 40, unit: fc.constantFrom('"', '\\', '/', '\n', '\r', '\t', '\u0001', '\u001f', '\u007f', '\u2028', 'é', '😀', 'a', '<', '{', ',') }),
).map((s) => s.replaceAll('\u0000', ''));
const nullable = <T>(a: fc.Arbitrary<T>) => fc.oneof(fc.constant(null), a);
const flag = fc.constantFrom(0, 1);
const timestamp = fc.oneof(fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()), text);
const columns = fc.record({
  subject: nullable(text), counterpart: nullable(text), contact_id: nullable(text), created_at: timestamp,
  message_count: fc.nat({ max: 2_000_000_000 }), unread_count: fc.nat({ max: 2_000_000_000 }),
  latest_text: nullable(text), latest_at: fc.oneof(fc.constant(null), fc.constant(''), timestamp),
  latest_direction: fc.constantFrom(null, 'inbound', 'outbound', 'sideways'), latest_has_media: flag,
  last_event_at: timestamp, labels: fc.array(text, { maxLength: 4 }).map((l) => JSON.stringify(l)), archived: flag,
  no_reply_at: nullable(timestamp), last_no_reply_at: nullable(timestamp), sla_due_at: nullable(timestamp), overdue: flag,
  starred: flag, assigned_to: nullable(text), is_blocked: flag, connection_status: nullable(text), connection_id: nullable(text),
});

describe('a conversation as JSON, kept by the store', () => {
  it('equals the presenter\'s view of the same row, for any column values, in the list\'s order', async () => {
    await fc.assert(fc.asyncProperty(fc.array(columns, { minLength: 1, maxLength: 6 }), fc.nat({ max: 6 }), async (rows, limit) => {
      const { orgId } = await createOrganization(h.store, 'json');
      const db = h.store.db;
      for (const set of rows) {
        const row = await createConversation(db, {
          orgId, ...identity, channel: 'email', subject: null, counterpart: null, contactId: null, at: new Date().toISOString(),
        });
        await db.updateTable('conversations').set(set).where('id', '=', row.id).execute();
      }
      const query = { limit: Math.max(1, limit) };
      const objects = await listConversations(db, orgId, query);
      const texts = await listConversationJson(db, orgId, query);
      expect(texts.map((r) => r.id)).toEqual(objects.map((r) => r.id));
      expect(texts.map((r) => r.last_event_at)).toEqual(objects.map((r) => r.last_event_at));
      expect(texts.map((r) => JSON.parse(r.json))).toEqual(objects.map(conversationView));
    }), { numRuns: 60 });
  });

  it('refuses a labels value that is not JSON: the write fails, so no page can hold it', async () => {
    const { orgId } = await createOrganization(h.store, 'json');
    const db = h.store.db;
    const row = await createConversation(db, {
      orgId, ...identity, channel: 'email', subject: null, counterpart: null, contactId: null, at: new Date().toISOString(),
    });
    await expect(db.updateTable('conversations').set({ labels: '["a",' }).where('id', '=', row.id).execute()).rejects.toThrow(/JSON/i);
    expect(JSON.parse((await listConversationJson(db, orgId, { limit: 1 }))[0]!.json).labels).toEqual([]);
  });

  /** The plan SQLite makes (`EXPLAIN QUERY PLAN`, its details joined) for each query `run` sends. */
  const plansOf = async (run: (db: Kysely<Database>) => Promise<unknown>): Promise<string[]> => {
    const nodes: RootOperationNode[] = [];
    const recorder: KyselyPlugin = { transformQuery: ({ node }) => { nodes.push(node); return node; }, transformResult: async ({ result }) => result };
    await run(h.store.db.withPlugin(recorder));
    const plans = [];
    for (const node of nodes) {
      const { sql: text, parameters } = h.store.db.getExecutor().compileQuery(node, createQueryId());
      const { rows } = await h.store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${text}`, [...parameters]));
      plans.push(rows.map((r) => r.detail).join(' | '));
    }
    return plans;
  };

  it.skipIf(TEST_STORE !== 'sqlite')('reads a page\'s positions from a list index alone, the org\'s or an identity\'s, with or without a cursor', async () => {
    const { orgId } = await createOrganization(h.store, 'json');
    const after = { lastEventAt: new Date().toISOString(), id: 'conv_z' };
    for (const query of [{ limit: 50, isBlocked: false }, { limit: 50, isBlocked: false, after }, { limit: 50, isBlocked: false, identityId: identity.identityId }]) {
      const plans = await plansOf((db) => listConversationJson(db, orgId, query));
      expect(plans).toHaveLength(1);
      // Each listed row's JSON is one lookup; no row of `conversations` is read to test it.
      expect(plans[0], JSON.stringify(query)).toMatch(/^SEARCH conversations USING COVERING INDEX conversations_(org|identity)_recent \(.*is_blocked=\?/);
    }
  });

  /** Each conversation's kept JSON, and the JSON its columns make now, by id. */
  const keptAndMade = async () => {
    const kept = await sql<{ id: string; json: string }>`select id, json from conversation_json order by id`.execute(h.store.db);
    const made = await h.store.db.selectFrom('conversations').select(['id', conversationJson(h.store.dialect).as('json')]).orderBy('id').execute();
    return { kept: kept.rows, made };
  };

  it('is kept by every write of a conversation: arrivals, replies, changes, a merge, reads, a deleted identity', async () => {
    const desk = await identityWithMailbox(h, 'desk@kept.test', 'kept-desk');
    const other = await identityWithMailbox(h, 'other@kept.test', 'kept-other');
    const check = async (step: string) => {
      const { kept, made } = await keptAndMade();
      expect(kept, step).toEqual(made);
    };
    for (const [n, to] of [[1, 'desk@kept.test'], [2, 'desk@kept.test'], [3, 'other@kept.test']] as const) {
      expect((await inbound(h, rawEmail({ from: `c${n}@client.test`, to, subject: `Topic ${n}`, messageId: `t${n}@client.test` }))).status).toBeLessThan(300);
    }
    await check('arrivals');
    expect((await inbound(h, rawEmail({ from: 'c1@client.test', to: 'desk@kept.test', subject: 'Re: Topic 1', messageId: 'r1@client.test', inReplyTo: 't1@client.test', body: 'A reply "quoted"\n\tand tabbed' }))).status).toBeLessThan(300);
    await check('a reply');
    const list = await h.request('GET', `/v1/conversations?identity_id=${desk.identityId}`);
    const [a, b] = list.body.data as { id: string }[];
    expect((await h.request('PATCH', `/v1/conversations/${a!.id}`, { starred: true, archived: true, labels: ['vip', 'ünïcode "q"'] })).status).toBe(200);
    await check('a change');
    expect((await h.request('POST', `/v1/conversations/${b!.id}/read`, {})).status).toBeLessThan(300);
    await check('a read');
    expect((await h.request('POST', `/v1/conversations/${a!.id}/merge`, { conversation_id: b!.id })).status).toBeLessThan(300);
    await check('a merge');
    expect((await h.request('DELETE', `/v1/identities/${other.identityId}`)).status).toBeLessThan(300);
    await check('a deleted identity');
  });

  it('is built again when its triggers are not the ones the module writes', async () => {
    const db = h.store.db;
    const dialect = h.store.dialect;
    expect(await ensureConversationJson(db, dialect)).toBe(false);
    await sql.raw(dialect === 'sqlite' ? 'drop trigger conversation_json_update' : 'drop trigger conversation_json_write on conversations').execute(db);
    await sql`update conversation_json set json = '{}'`.execute(db);
    expect(await ensureConversationJson(db, dialect)).toBe(true);
    const { kept, made } = await keptAndMade();
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual(made);
    expect(await ensureConversationJson(db, dialect)).toBe(false);
  });

  it.skipIf(TEST_STORE !== 'postgres')('is built again when its trigger function is not the one the module writes', async () => {
    const db = h.store.db;
    await sql`create or replace function conversation_json_write() returns trigger language plpgsql as $$ begin return null; end $$`.execute(db);
    await sql`update conversation_json set json = '{}'`.execute(db);
    expect(await ensureConversationJson(db, 'postgres')).toBe(true);
    const { kept, made } = await keptAndMade();
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual(made);
    expect(await ensureConversationJson(db, 'postgres')).toBe(false);
  });

  it.skipIf(TEST_STORE !== 'sqlite')('is moved out of a WITHOUT ROWID table (whose long rows are read past the page cache) into a rowid table', async () => {
    const db = h.store.db;
    const rowid = async () => (await sql<{ n: number }>`select count(*) as n from pragma_table_list where name = 'conversation_json' and wr = 0`.execute(db)).rows[0]!.n;
    expect(await rowid()).toBe(1);
    // The layout of the stores that kept the JSON before.
    await db.transaction().execute(async (tx) => {
      const { rows } = await sql<{ name: string }>`select name from sqlite_master where type = 'trigger' and tbl_name = 'conversations'`.execute(tx);
      for (const { name } of rows) if (name.startsWith('conversation_json_')) await sql.raw(`drop trigger ${name}`).execute(tx);
      await sql`create temp table kept as select id, json from conversation_json`.execute(tx);
      await sql`drop table conversation_json`.execute(tx);
      await sql`create table conversation_json (id text primary key, json text not null) without rowid`.execute(tx);
      await sql`insert into conversation_json select id, json from temp.kept`.execute(tx);
      await sql`drop table temp.kept`.execute(tx);
    });
    expect(await rowid()).toBe(0);
    expect(await ensureConversationJson(db, 'sqlite')).toBe(true);
    expect(await rowid()).toBe(1);
    const { kept, made } = await keptAndMade();
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual(made);
    expect(await ensureConversationJson(db, 'sqlite')).toBe(false);
  });
});

describe('the fields the store writes', () => {
  it('are those of the Conversation resource, in its order (all but the search hit)', () => {
    expect(CONVERSATION_JSON_FIELDS).toEqual(Object.keys(Conversation.properties).filter((k) => k !== 'search'));
  });
});
