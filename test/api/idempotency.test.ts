/**
 * `Idempotency-Key` per API key (issue 19): a key's retry gets its first answer again,
 * while the same header sent with another key is that key's own first request, checked
 * for its permissions and identity scope like any other. Keys recorded before they were
 * kept per API key (migration 0010) still answer their retries.
 */
import { Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError, type ChannelAdapter, type OutboundMessage } from '../../src/channels/adapter.js';
import { createApiKey } from '../../src/services/tenants.js';
import { migrations, POSTGRES_TYPES, SQLITE_TYPES } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open.js';
import { freshDatabase, harness, identityWithMailbox, inbound, rawEmail, tempDir, TEST_STORE, type Harness } from '../helpers.js';

const sent: OutboundMessage[] = [];
let failNext = false;
const sms: ChannelAdapter = {
  channel: 'sms',
  supportsMedia: false,
  async send(message) {
    if (failNext) {
      failNext = false;
      throw new UpstreamError('HTTP 503', { retryable: true, status: 503 });
    }
    sent.push(message);
    return { providerMessageId: `SM${sent.length}`, status: 'queued' };
  },
};

let h: Harness;
/** Identity 1 (email and SMS) and identity 2. */
let help: string;
let sales: string;
let helpConv: string;
/** Bearer headers: the first org-wide key, a second org-wide key, and a key scoped to identity 2. */
const as = {} as Record<'first' | 'second' | 'salesOnly', Record<string, string>>;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  h = await harness({}, { channels: { sms } });
  help = (await identityWithMailbox(h, 'help@shop.test', 'help')).identityId;
  sales = (await identityWithMailbox(h, 'sales@shop.test', 'sales')).identityId;
  const sms1 = await h.request('POST', '/v1/channel_accounts', { identity_id: help, channel: 'sms', address: '+1 415 555 0100', config: { auth_token: 'tok' } });
  expect(sms1.status, JSON.stringify(sms1.body)).toBe(201);
  helpConv = (await inbound(h, rawEmail({ from: 'kim@buyer.test', to: 'help@shop.test', messageId: 'k1@buyer.test' }))).body.results[0].conversation_id;
  as.first = bearer(h.key);
  as.second = bearer((await createApiKey(h.store.db, h.orgId, 'second')).key);
  as.salesOnly = bearer((await createApiKey(h.store.db, h.orgId, 'sales only', { identityId: sales })).key);
});
afterAll(async () => { await h.close(); });

const withKey = (headers: Record<string, string>, key: string) => ({ ...headers, 'idempotency-key': key });
const messageCount = async (convId: string) => (await h.request('GET', `/v1/conversations/${convId}`)).body.message_count as number;

describe('Idempotency-Key across API keys', () => {
  it('replays a note for the key that wrote it, and is a first request for any other key', async () => {
    const K = 'note-1';
    const first = await h.request('POST', `/v1/conversations/${helpConv}/notes`, { text: 'Refund approved.' }, withKey(as.first, K));
    expect(first.status).toBe(201);

    const scoped = await h.request('POST', `/v1/conversations/${helpConv}/notes`, { text: 'Refund approved.' }, withKey(as.salesOnly, K));
    expect(scoped.status).toBe(404); // identity 1's conversation, as without the header
    expect(scoped.headers['idempotent-replayed']).toBeUndefined();
    expect(JSON.stringify(scoped.body)).not.toContain(first.body.id);

    const second = await h.request('POST', `/v1/conversations/${helpConv}/notes`, { text: 'Refund approved.' }, withKey(as.second, K));
    expect(second.status).toBe(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(second.body.id).not.toBe(first.body.id);

    for (const [who, note] of [[as.first, first], [as.second, second]] as const) {
      const again = await h.request('POST', `/v1/conversations/${helpConv}/notes`, { text: 'Refund approved.' }, withKey(who, K));
      expect(again.status).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(note.body);
    }
    // A key's other body under its key is still a conflict; another key's first use is not.
    expect((await h.request('POST', `/v1/conversations/${helpConv}/notes`, { text: 'Other.' }, withKey(as.first, K))).body.code).toBe('idempotency_conflict');
  });

  it('checks a scoped key\'s suggestion send as a first request: 404, never identity 1\'s message', async () => {
    const K = 'suggestion-send-1';
    const suggestion = (await h.request('POST', `/v1/conversations/${helpConv}/suggestions`, { text: 'It ships Monday.' })).body;
    const url = `/v1/conversations/${helpConv}/suggestions/${suggestion.id}/send`;
    const first = await h.request('POST', url, {}, withKey(as.first, K));
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const count = await messageCount(helpConv);

    const scoped = await h.request('POST', url, {}, withKey(as.salesOnly, K));
    expect(scoped.status).toBe(404);
    expect(scoped.headers['idempotent-replayed']).toBeUndefined();
    expect(JSON.stringify(scoped.body)).not.toContain(first.body.message.id);

    const second = await h.request('POST', url, {}, withKey(as.second, K));
    expect(second.status).toBe(409); // its own first request: the suggestion was sent already
    expect(second.body.code).toBe('suggestion_not_pending');

    const again = await h.request('POST', url, {}, withKey(as.first, K));
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.message.id).toBe(first.body.message.id);
    expect(await messageCount(helpConv)).toBe(count);
  });

  it('checks a first email as a first request: 403 forbidden_identity for a scoped key, a new message for another key', async () => {
    const K = 'first-email-1';
    const body = { identity_id: help, to: 'lee@buyer.test', subject: 'Hello', text: 'Welcome aboard.' };
    const first = await h.request('POST', '/v1/messages', body, withKey(as.first, K));
    expect(first.status, JSON.stringify(first.body)).toBe(202);

    const scoped = await h.request('POST', '/v1/messages', body, withKey(as.salesOnly, K));
    expect(scoped.status).toBe(403);
    expect(scoped.body.code).toBe('forbidden_identity');
    expect(scoped.headers['idempotent-replayed']).toBeUndefined();

    const second = await h.request('POST', '/v1/messages', body, withKey(as.second, K));
    expect(second.status).toBe(202);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(second.body.message.id).not.toBe(first.body.message.id);

    const again = await h.request('POST', '/v1/messages', body, withKey(as.first, K));
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.message.id).toBe(first.body.message.id);
  });

  it('keeps a channel send\'s retry after a 502 to the key that made it', async () => {
    const K = 'first-sms-1';
    const body = { channel: 'sms', identity_id: help, to: '+1 415 555 0199', text: 'Your code is 4321' };
    failNext = true;
    const failed = await h.request('POST', '/v1/messages', body, withKey(as.first, K));
    expect(failed.status).toBe(502);
    const convId = (await h.request('GET', '/v1/conversations?channel=sms&limit=200')).body.data.find((c: any) => c.counterpart === '+14155550199').id;

    // Another key's request with the same header sends its own message; the failed one stays failed.
    const second = await h.request('POST', '/v1/messages', body, withKey(as.second, K));
    expect(second.status, JSON.stringify(second.body)).toBe(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    const scoped = await h.request('POST', '/v1/messages', body, withKey(as.salesOnly, K));
    expect(scoped.body.code).toBe('forbidden_identity');
    const statuses = async () => ((await h.request('GET', `/v1/conversations/${convId}/messages?limit=200`)).body.data as any[])
      .map((m) => [m.id, m.status]);
    expect(await statuses()).toEqual([[expect.any(String), 'failed'], [second.body.message.id, 'queued']]);

    // The first key's retry sends its own failed message again, once.
    const retry = await h.request('POST', '/v1/messages', body, withKey(as.first, K));
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.body.message.id).not.toBe(second.body.message.id);
    expect(await statuses()).toEqual([[retry.body.message.id, 'queued'], [second.body.message.id, 'queued']]);
    expect(sent.filter((m) => m.text === 'Your code is 4321').map((m) => m.messageId)).toEqual([second.body.message.id, retry.body.message.id]);
  });
});

describe('keys recorded before they were kept per API key', () => {
  it('still answer an org-wide key\'s retry; a scoped key gets a 409, never the answer', async () => {
    const first = await h.request('POST', `/v1/conversations/${helpConv}/notes`, { text: 'Old.' }, withKey(as.first, 'old-1'));
    expect(first.status).toBe(201);
    // As migration 0010 left a row written before it: no key id.
    await h.store.db.updateTable('idempotency_keys').set({ key_id: '' }).where('org_id', '=', h.orgId).where('key', '=', 'old-1').execute();

    for (const key of [as.first, as.second]) {
      const replay = await h.request('POST', `/v1/conversations/${helpConv}/notes`, { text: 'Old.' }, withKey(key, 'old-1'));
      expect(replay.status).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toEqual(first.body);
    }
    const scoped = await h.request('POST', `/v1/conversations/${helpConv}/notes`, { text: 'Old.' }, withKey(as.salesOnly, 'old-1'));
    expect(scoped.status).toBe(409);
    expect(scoped.body.code).toBe('idempotency_conflict');
    expect(JSON.stringify(scoped.body)).not.toContain(first.body.id);
  });

  it('survive the migration that keys them per API key', async () => {
    const dataDir = tempDir();
    const database = await freshDatabase();
    const store = await openStore({ dataDir, databaseUrl: database.url }, { migrate: false });
    try {
      const all = migrations(TEST_STORE === 'postgres' ? POSTGRES_TYPES : SQLITE_TYPES);
      const migrator = new Migrator({ db: store.db, provider: { getMigrations: async () => all } });
      expect((await migrator.migrateTo('0009_outbound_queue')).error).toBeUndefined();
      const row = { org_id: 'org_1', key: 'k', route: 'POST /v1/identities', request_hash: 'h', status_code: 201, response: '{}', created_at: new Date().toISOString() };
      await (store.db as any).insertInto('idempotency_keys').values(row).execute();
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      expect(await store.db.selectFrom('idempotency_keys').selectAll().execute()).toEqual([{ ...row, key_id: '' }]);
      // Two keys may now hold one Idempotency-Key.
      await store.db.insertInto('idempotency_keys').values({ ...row, key_id: 'key_a' }).execute();
      await store.db.insertInto('idempotency_keys').values({ ...row, key_id: 'key_b' }).execute();
      await expect(store.db.insertInto('idempotency_keys').values({ ...row, key_id: 'key_b' }).execute()).rejects.toThrow();
    } finally {
      await store.close();
      await database.drop();
    }
  });
});
