/**
 * The API JSON SQLite writes for list pages (store/conversation-json.ts) equals the
 * presenter's view of the same row (api/presenters.ts `conversationView`), for any values
 * of its columns; and it has exactly the resource's fields. SQLite only: PostgreSQL lists
 * build their rows in Node.js.
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationView } from '../../src/api/presenters.js';
import { Conversation } from '../../src/api/schemas.js';
import { createOrganization } from '../../src/services/tenants.js';
import { CONVERSATION_JSON_FIELDS, conversationJson, ensureConversationJson } from '../../src/store/conversation-json.js';
import { createConversation, listConversationJson, listConversations } from '../../src/store/conversations.js';
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

describe.skipIf(TEST_STORE !== 'sqlite')('a conversation as JSON, written by SQLite', () => {
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

  /** Each conversation's kept JSON, and the JSON its columns make now, by id. */
  const keptAndMade = async () => {
    const kept = await sql<{ id: string; json: string }>`select id, json from conversation_json order by id`.execute(h.store.db);
    const made = await h.store.db.selectFrom('conversations').select(['id', conversationJson().as('json')]).orderBy('id').execute();
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
    expect(await ensureConversationJson(db)).toBe(false);
    await sql`drop trigger conversation_json_update`.execute(db);
    await sql`update conversation_json set json = '{}'`.execute(db);
    expect(await ensureConversationJson(db)).toBe(true);
    const { kept, made } = await keptAndMade();
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual(made);
    expect(await ensureConversationJson(db)).toBe(false);
  });
});

describe('the fields SQLite writes', () => {
  it('are those of the Conversation resource, in its order (all but the search hit)', () => {
    expect(CONVERSATION_JSON_FIELDS).toEqual(Object.keys(Conversation.properties).filter((k) => k !== 'search'));
  });
});

describe.skipIf(TEST_STORE !== 'postgres')('list rows on PostgreSQL', () => {
  it('are not written as JSON by the database', async () => {
    const { orgId } = await createOrganization(h.store, 'json');
    await expect(listConversationJson(h.store.db, orgId, { limit: 1 })).rejects.toThrow(/SQLite only/);
  });
});
