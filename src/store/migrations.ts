/**
 * The schema, one set of migrations for both stores, applied in name order by Kysely's
 * Migrator. The dialects differ only in the column types of {@link ColumnTypes}, and in
 * the search index (store/search.ts).
 */
import { Migrator, sql, type ColumnDataType, type Expression, type Kysely, type Migration } from 'kysely';
import { createConversationCounts } from './conversation-counts.js';
import { backfillSearch, searchIndexFor } from './search.js';
import type { Dialect, OpenOptions, Store } from './store.js';

type DataTypeExpression = ColumnDataType | Expression<unknown>;

/** The column types that differ between the stores. */
export interface ColumnTypes {
  /** Text compared and sorted bytewise (ids, RFC 3339 timestamps, keyset cursors). */
  readonly key: DataTypeExpression;
  /** Raw bytes. */
  readonly bytes: DataTypeExpression;
  /** A 64-bit integer (sequence numbers). */
  readonly bigint: DataTypeExpression;
  /** The store, for the few objects that are not tables of portable columns (the search index). */
  readonly dialect: Dialect;
}

export const SQLITE_TYPES: ColumnTypes = { key: 'text', bytes: 'blob', bigint: 'integer', dialect: 'sqlite' };
export const POSTGRES_TYPES: ColumnTypes = { key: sql`text collate "C"`, bytes: 'bytea', bigint: 'bigint', dialect: 'postgres' };

/**
 * Applies the migrations not yet applied (Kysely's Migrator holds a lock meanwhile, so
 * several nodes starting together migrate once).
 *
 * @returns the names of the migrations this call applied, oldest first.
 * @throws Error naming the migration that failed.
 */
export async function migrateToLatest(db: Kysely<any>, types: ColumnTypes): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations(types) } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${(error as Error).message}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Migrates a store just opened, unless told not to; closes it when migrating fails.
 *
 * @throws Error naming the migration that failed.
 */
export async function migrateOnOpen(store: Store, options: OpenOptions): Promise<Store> {
  if (options.migrate === false) return store;
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/** The migrations for one store's column types. */
export function migrations(t: ColumnTypes): Record<string, Migration> {
  return {
  '0001_core': {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('organizations')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .execute();

      await db.schema.createTable('api_keys')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull().references('organizations.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('last_used_at', t.key)
        .addColumn('revoked_at', t.key)
        .execute();
      await db.schema.createIndex('api_keys_org').on('api_keys').columns(['org_id']).execute();

      await db.schema.createTable('identities')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull().references('organizations.id'))
        .addColumn('handle', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text')
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .addUniqueConstraint('identities_org_handle', ['org_id', 'handle'])
        .execute();

      await db.schema.createTable('channel_accounts')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull().references('organizations.id'))
        .addColumn('identity_id', t.key, (c) => c.notNull().references('identities.id'))
        .addColumn('channel', t.key, (c) => c.notNull())
        .addColumn('address', t.key, (c) => c.notNull())
        .addColumn('display_name', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('last_sent_at', t.key)
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .addUniqueConstraint('channel_accounts_address', ['channel', 'address'])
        .execute();
      await db.schema.createIndex('channel_accounts_identity').on('channel_accounts')
        .columns(['org_id', 'identity_id']).execute();

      await db.schema.createTable('contacts')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull().references('organizations.id'))
        .addColumn('display_name', 'text')
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .execute();
      await db.schema.createTable('contact_addresses')
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('channel', t.key, (c) => c.notNull())
        .addColumn('address', t.key, (c) => c.notNull())
        .addColumn('contact_id', t.key, (c) => c.notNull().references('contacts.id'))
        .addPrimaryKeyConstraint('contact_addresses_pk', ['org_id', 'channel', 'address'])
        .execute();

      await db.schema.createTable('conversations')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull().references('organizations.id'))
        .addColumn('identity_id', t.key, (c) => c.notNull())
        .addColumn('account_id', t.key, (c) => c.notNull())
        .addColumn('channel', t.key, (c) => c.notNull())
        .addColumn('subject', 'text')
        .addColumn('counterpart', 'text')
        .addColumn('contact_id', t.key)
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('unread_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('latest_text', 'text')
        .addColumn('latest_at', t.key)
        .addColumn('latest_direction', 'text')
        .addColumn('latest_has_media', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_event_at', t.key, (c) => c.notNull())
        .addColumn('labels', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('archived', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('subject_key', 'text', (c) => c.notNull().defaultTo(''))
        .execute();
      await db.schema.createIndex('conversations_org_recent').on('conversations')
        .columns(['org_id', 'last_event_at desc', 'id desc']).execute();
      await db.schema.createIndex('conversations_identity_recent').on('conversations')
        .columns(['org_id', 'identity_id', 'last_event_at desc', 'id desc']).execute();
      await db.schema.createIndex('conversations_subject').on('conversations')
        .columns(['org_id', 'identity_id', 'counterpart', 'subject_key']).execute();

      await db.schema.createTable('conversation_participants')
        .addColumn('conversation_id', t.key, (c) => c.notNull())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('address', t.key, (c) => c.notNull())
        .addColumn('domain', t.key, (c) => c.notNull())
        .addPrimaryKeyConstraint('conversation_participants_pk', ['conversation_id', 'address'])
        .execute();
      await db.schema.createIndex('conversation_participants_address').on('conversation_participants')
        .columns(['org_id', 'address']).execute();
      await db.schema.createIndex('conversation_participants_domain').on('conversation_participants')
        .columns(['org_id', 'domain']).execute();

      // `seq` is the org-wide commit order (store/sequences.ts): allocated from
      // org_sequences under a row lock, so it increases in commit order on both stores.
      await db.schema.createTable('org_sequences')
        .addColumn('org_id', t.key, (c) => c.primaryKey())
        .addColumn('last_seq', t.bigint, (c) => c.notNull())
        .execute();
      await db.schema.createTable('events')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('seq', t.bigint, (c) => c.notNull())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('conversation_id', t.key, (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('at', t.key, (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addUniqueConstraint('events_org_seq', ['org_id', 'seq'])
        .execute();
      await db.schema.createIndex('events_conversation_at').on('events')
        .columns(['conversation_id', 'at', 'seq']).execute();

      await db.schema.createTable('messages')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('conversation_id', t.key, (c) => c.notNull())
        .addColumn('event_id', t.key, (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('provider_message_id', 'text')
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('messages_conversation').on('messages').columns(['conversation_id']).execute();

      await db.schema.createTable('email_message_ids')
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('identity_id', t.key, (c) => c.notNull())
        .addColumn('message_id', t.key, (c) => c.notNull())
        .addColumn('conversation_id', t.key, (c) => c.notNull())
        .addColumn('stored', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('email_message_ids_pk', ['org_id', 'identity_id', 'message_id'])
        .execute();

      await db.schema.createTable('raw_messages')
        .addColumn('message_id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('raw', t.bytes, (c) => c.notNull())
        .execute();

      await db.schema.createTable('media')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('message_id', t.key)
        .addColumn('filename', 'text')
        .addColumn('content_type', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'integer', (c) => c.notNull())
        .addColumn('content_id', 'text')
        .addColumn('disposition', 'text')
        .addColumn('content', t.bytes, (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('media_message').on('media').columns(['message_id']).execute();

      await db.schema.createTable('idempotency_keys')
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('key', t.key, (c) => c.notNull())
        .addColumn('route', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('response', 'text')
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pk', ['org_id', 'key'])
        .execute();
    },
  },
  '0002_timers_webhooks': {
    async up(db: Kysely<any>): Promise<void> {
      // Timer projections (SPEC section 3) and what the reducer needs to keep them.
      for (const [name, type] of [
        ['outbound_count', 'integer'], ['no_reply_at', t.key], ['no_reply_since', t.key], ['last_no_reply_at', t.key],
        ['sla_due_at', t.key], ['sla_target', 'text'], ['overdue', 'integer'],
      ] as const) {
        await db.schema.alterTable('conversations')
          .addColumn(name, type, (c) => (type === 'integer' ? c.notNull().defaultTo(0) : c))
          .execute();
      }
      await db.schema.createIndex('conversations_org_overdue').on('conversations').columns(['org_id', 'overdue']).execute();

      // Durable timers: one row per armed timer of a conversation, claimed by a sweeper.
      await db.schema.createTable('timers')
        .addColumn('conversation_id', t.key, (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('due_at', t.key, (c) => c.notNull())
        .addColumn('claimed_until', t.key)
        .addPrimaryKeyConstraint('timers_pk', ['conversation_id', 'kind'])
        .execute();
      await db.schema.createIndex('timers_due').on('timers').columns(['due_at']).execute();

      await db.schema.createTable('sla_policies')
        .addColumn('org_id', t.key, (c) => c.primaryKey())
        .addColumn('first_response_ms', t.bigint)
        .addColumn('next_response_ms', t.bigint)
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .execute();

      await db.schema.createTable('webhook_endpoints')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('event_types', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('disabled_reason', 'text')
        .addColumn('cursor_seq', t.bigint, (c) => c.notNull())
        .addColumn('failing_since', t.key)
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_endpoints_org').on('webhook_endpoints').columns(['org_id', 'id']).execute();

      await db.schema.createTable('webhook_deliveries')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('endpoint_id', t.key, (c) => c.notNull())
        .addColumn('event_id', t.key, (c) => c.notNull())
        .addColumn('event_seq', t.bigint, (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempt_count', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', t.key)
        .addColumn('claimed_until', t.key)
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .addUniqueConstraint('webhook_deliveries_endpoint_event', ['endpoint_id', 'event_id'])
        .execute();
      await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['next_attempt_at']).execute();
      await db.schema.createIndex('webhook_deliveries_endpoint').on('webhook_deliveries').columns(['endpoint_id', 'id']).execute();

      await db.schema.createTable('webhook_attempts')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('delivery_id', t.key, (c) => c.notNull())
        .addColumn('at', t.key, (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('latency_ms', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .execute();
      await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').columns(['delivery_id', 'id']).execute();
    },
  },
  '0003_inbox': {
    async up(db: Kysely<any>): Promise<void> {
      // Members (staff) and what a key may do: act as a member, see one identity, hold a permission list.
      await db.schema.createTable('members')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull().references('organizations.id'))
        .addColumn('email', t.key, (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .addUniqueConstraint('members_org_email', ['org_id', 'email'])
        .execute();
      for (const name of ['member_id', 'identity_id', 'permissions']) {
        await db.schema.alterTable('api_keys').addColumn(name, name === 'permissions' ? 'text' : t.key).execute();
      }

      // Inbox projections (SPEC section 3).
      await db.schema.alterTable('conversations').addColumn('starred', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('conversations').addColumn('assigned_to', t.key).execute();
      await db.schema.alterTable('conversations').addColumn('is_blocked', 'integer', (c) => c.notNull().defaultTo(0)).execute();

      // Contact enrichment and contact rules.
      for (const name of ['company', 'position', 'headline', 'avatar_url']) {
        await db.schema.alterTable('contacts').addColumn(name, 'text').execute();
      }
      await db.schema.alterTable('contacts').addColumn('attributes', 'text', (c) => c.notNull().defaultTo('{}')).execute();
      await db.schema.createIndex('contacts_org').on('contacts').columns(['org_id', 'id']).execute();
      await db.schema.createIndex('contact_addresses_contact').on('contact_addresses').columns(['org_id', 'contact_id']).execute();
      await db.schema.createTable('contact_rules')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('identity_id', t.key)
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('pattern', t.key, (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('contact_rules_org').on('contact_rules').columns(['org_id', 'id']).execute();

      // AI-drafted replies and the training pairs human sends leave behind.
      await db.schema.createTable('suggestions')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('conversation_id', t.key, (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('model', 'text')
        .addColumn('agent', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('sent_message_id', t.key)
        .addColumn('sent_text', 'text')
        .addColumn('edited', 'integer')
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('suggestions_conversation').on('suggestions').columns(['conversation_id', 'id']).execute();
      await db.schema.createTable('training_pairs')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('conversation_id', t.key, (c) => c.notNull())
        .addColumn('suggestion_id', t.key, (c) => c.notNull())
        .addColumn('message_id', t.key, (c) => c.notNull())
        .addColumn('draft', 'text', (c) => c.notNull())
        .addColumn('sent_text', 'text', (c) => c.notNull())
        .addColumn('edited', 'integer', (c) => c.notNull())
        .addColumn('model', 'text')
        .addColumn('agent', 'text')
        .addColumn('sent_by_member_id', t.key)
        .addColumn('sent_by_key_id', t.key, (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('training_pairs_org').on('training_pairs').columns(['org_id', 'id']).execute();

      // Saved views (the built-in ones are not rows).
      await db.schema.createTable('views')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('filter', 'text', (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('views_org').on('views').columns(['org_id', 'id']).execute();
    },
  },
  '0004_view_indexes': {
    // Per-view counts (GET /v1/views/counts) read these indexes alone: Unread and Starred
    // seek straight to their rows, Recents and All count a narrow index range instead of
    // the table. With 100,000 conversations in an org the four counts went from 30-180 ms
    // each (a scan of the org's rows) to 1-25 ms (EXPLAIN: index-only on both stores).
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createIndex('conversations_org_inbox').on('conversations')
        .columns(['org_id', 'is_blocked', 'archived', 'unread_count']).execute();
      await db.schema.createIndex('conversations_org_starred').on('conversations')
        .columns(['org_id', 'is_blocked', 'starred', 'unread_count']).execute();
    },
  },
  '0005_search': {
    async up(db: Kysely<any>): Promise<void> {
      // Full-text search (store/search.ts), with the messages stored before it.
      const index = searchIndexFor(t.dialect);
      await index.createSchema(db);
      await backfillSearch(db, index);
    },
  },
  '0006_org_version': {
    // The organization's state version (store/sequences.ts): bumped by every transaction
    // that takes the org's write lock, so a cached list page or count is known current
    // by one primary-key read (api/read-cache.ts).
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('org_sequences').addColumn('version', t.bigint, (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0007_channels': {
    // SMS, iMessage and HTTP channels (src/channels/): account health, shared lines and
    // their router connections, provider message ids, media kept on disk.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('channel_accounts').addColumn('status_reason', 'text').execute();
      await db.schema.alterTable('channel_accounts').addColumn('status_at', t.key).execute();
      await db.schema.alterTable('channel_accounts').addColumn('pool', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('identities').addColumn('routing_code', t.key).execute();
      await db.schema.createIndex('identities_routing_code').on('identities').columns(['org_id', 'routing_code']).unique().execute();
      await db.schema.alterTable('conversations').addColumn('connection_status', 'text').execute();
      await db.schema.alterTable('media').addColumn('storage_key', 'text').execute();
      // Uploads (POST /v1/media) belong to the uploading key's identity until attached.
      await db.schema.alterTable('media').addColumn('identity_id', t.key).execute();
      // The Idempotency-Key that created an outbound channel message: a retry after a 502
      // sends that message again instead of a second one (services/send-channel.ts).
      await db.schema.alterTable('messages').addColumn('idempotency_key', 'text').execute();
      await db.schema.createIndex('messages_idempotency_key').on('messages').columns(['org_id', 'idempotency_key'])
        .where(sql.ref('idempotency_key'), 'is not', null).execute();
      // Non-email conversations are found by (account, counterpart).
      await db.schema.createIndex('conversations_account_counterpart').on('conversations')
        .columns(['org_id', 'account_id', 'counterpart', 'identity_id']).execute();

      await db.schema.createTable('provider_message_ids')
        .addColumn('account_id', t.key, (c) => c.notNull())
        .addColumn('provider_message_id', t.key, (c) => c.notNull())
        .addColumn('org_id', t.key, (c) => c.notNull().references('organizations.id'))
        .addColumn('message_id', t.key, (c) => c.notNull())
        .addColumn('conversation_id', t.key, (c) => c.notNull())
        .addPrimaryKeyConstraint('provider_message_ids_pk', ['account_id', 'provider_message_id'])
        .execute();
      await db.schema.createIndex('provider_message_ids_message').on('provider_message_ids').columns(['org_id', 'message_id']).execute();

      await db.schema.createTable('connections')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull().references('organizations.id'))
        .addColumn('account_id', t.key, (c) => c.notNull().references('channel_accounts.id'))
        .addColumn('identity_id', t.key, (c) => c.notNull().references('identities.id'))
        .addColumn('counterpart', t.key, (c) => c.notNull())
        .addColumn('conversation_id', t.key, (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('activated_at', t.key, (c) => c.notNull())
        .addColumn('released_at', t.key)
        .addColumn('release_reason', 'text')
        .execute();
      await db.schema.createIndex('connections_org').on('connections').columns(['org_id', 'id']).execute();
      // At most one active connection per person per line (both stores support partial indexes).
      await db.schema.createIndex('connections_active').on('connections').columns(['account_id', 'counterpart']).unique()
        .where(sql.ref('status'), '=', 'active').execute();
    },
  },
  '0008_merges': {
    // Merged conversations (store/merge.ts): a merged row stays, pointing at the one it
    // became part of, and drops out of every list and count. The list and count indexes
    // become partial (`merged_into is null`, which every such query states), and those
    // that counts read alone also hold `merged_into` itself: SQLite uses a partial index
    // as covering only when it holds every column the query names.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('conversations').addColumn('merged_into', t.key).execute();
      const live = (name: string, columns: string[]) => db.schema.createIndex(name).on('conversations').columns(columns)
        .where(sql.ref('merged_into'), 'is', null).execute();
      for (const name of ['conversations_org_recent', 'conversations_identity_recent', 'conversations_subject',
        'conversations_org_overdue', 'conversations_org_inbox', 'conversations_org_starred']) {
        await db.schema.dropIndex(name).execute();
      }
      await live('conversations_org_recent', ['org_id', 'last_event_at desc', 'id desc']);
      await live('conversations_identity_recent', ['org_id', 'identity_id', 'last_event_at desc', 'id desc']);
      await live('conversations_subject', ['org_id', 'identity_id', 'counterpart', 'subject_key']);
      await live('conversations_org_overdue', ['org_id', 'overdue', 'merged_into']);
      await live('conversations_org_inbox', ['org_id', 'is_blocked', 'archived', 'unread_count', 'merged_into']);
      await live('conversations_org_starred', ['org_id', 'is_blocked', 'starred', 'unread_count', 'merged_into']);
      // The conversations merged into one (its timeline reads theirs too).
      await db.schema.createIndex('conversations_merged_into').on('conversations').columns(['merged_into'])
        .where(sql.ref('merged_into'), 'is not', null).execute();
      // A merge moves a conversation's rows of these tables to the survivor: found by conversation, not by scanning the org.
      await db.schema.createIndex('email_message_ids_conversation').on('email_message_ids').columns(['org_id', 'conversation_id']).execute();
      await db.schema.createIndex('provider_message_ids_conversation').on('provider_message_ids').columns(['org_id', 'conversation_id']).execute();
      await db.schema.createIndex('training_pairs_conversation').on('training_pairs').columns(['conversation_id']).execute();
      await db.schema.createIndex('connections_conversation').on('connections').columns(['conversation_id']).execute();
    },
  },
  '0009_outbound_queue': {
    // Outgoing email waits here until a relay accepts it (services/outbound-queue.ts):
    // one row per message, leased by a worker like timers and webhook deliveries.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('outbound_queue')
        .addColumn('message_id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('account_id', t.key, (c) => c.notNull())
        .addColumn('envelope', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', t.key)
        .addColumn('claimed_until', t.key)
        .addColumn('expires_at', t.key, (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('updated_at', t.key, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('outbound_queue_due').on('outbound_queue').columns(['next_attempt_at'])
        .where(sql.ref('state'), '!=', 'failed').execute();
      await db.schema.createIndex('outbound_queue_org').on('outbound_queue').columns(['org_id', 'state', 'message_id']).execute();
      // A bounce names the message it returns by its Message-ID (services/receive-email.ts applyBounce).
      await db.schema.createIndex('messages_provider_id').on('messages').columns(['org_id', 'provider_message_id']).execute();
    },
  },
  '0010_idempotency_per_key': {
    // An Idempotency-Key belongs to the API key that sent it (api/idempotency.ts): another
    // key's request with the same header is its own first request, checked like any
    // other, never a replay of this one's answer. The primary key gains the key id, so
    // the table is rebuilt; rows written before keep `key_id` '' (which key sent them
    // is not known) and are honoured as before for org-wide keys until they expire.
    async up(db: Kysely<any>): Promise<void> {
      const columns = ['org_id', 'key', 'route', 'request_hash', 'status_code', 'response', 'created_at'];
      await db.schema.createTable('idempotency_keys_per_key')
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('key_id', t.key, (c) => c.notNull().defaultTo(''))
        .addColumn('key', t.key, (c) => c.notNull())
        .addColumn('route', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('response', 'text')
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_per_key_pk', ['org_id', 'key_id', 'key'])
        .execute();
      await db.insertInto('idempotency_keys_per_key').columns(columns)
        .expression(db.selectFrom('idempotency_keys').select(columns)).execute();
      await db.schema.dropTable('idempotency_keys').execute();
      await db.schema.alterTable('idempotency_keys_per_key').renameTo('idempotency_keys').execute();
    },
  },
  '0011_rate_limits': {
    // The counters of rate limits that every node shares (api/rate-limit.ts): one row per
    // counted key, in the shape rate-limiter-flexible's RateLimiterPostgres reads. SQLite
    // has one process, which counts in memory: the table is only created there.
    async up(db: Kysely<any>): Promise<void> {
      if (t.dialect !== 'postgres') return;
      await db.schema.createTable('rate_limits')
        .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('points', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expire', 'bigint')
        .execute();
    },
  },
  '0012_conversation_connection_id': {
    // Conversations carry the id of their router connection (Inkbox `assignment_id`), a
    // projection like `connection_status`; existing rows take their latest connection's.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('conversations').addColumn('connection_id', t.key).execute();
      await db.updateTable('conversations').set((eb: any) => ({
        connection_id: eb.selectFrom('connections').select('connections.id')
          .whereRef('connections.conversation_id', '=', 'conversations.id')
          .orderBy('connections.activated_at', 'desc').orderBy('connections.id', 'desc').limit(1),
      })).where('connection_status', 'is not', null).execute();
    },
  },
  '0013_sessions': {
    // People's sign-in (services/sessions.ts): one-time login links, browser sessions, and
    // a member's optional identity scope.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('members').addColumn('identity_id', t.key).execute();
      await db.schema.createTable('login_links')
        .addColumn('token_hash', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('member_id', t.key, (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('expires_at', t.key, (c) => c.notNull())
        .addColumn('used_at', t.key)
        .execute();
      await db.schema.createTable('sessions')
        .addColumn('id', t.key, (c) => c.primaryKey())
        .addColumn('org_id', t.key, (c) => c.notNull())
        .addColumn('member_id', t.key, (c) => c.notNull())
        .addColumn('secret_hash', t.key, (c) => c.notNull())
        .addColumn('csrf_token', t.key, (c) => c.notNull())
        .addColumn('created_at', t.key, (c) => c.notNull())
        .addColumn('expires_at', t.key, (c) => c.notNull())
        .addColumn('last_seen_at', t.key, (c) => c.notNull())
        .addColumn('revoked_at', t.key)
        .addColumn('user_agent', 'text')
        .execute();
      await db.schema.createIndex('sessions_member').on('sessions').columns(['org_id', 'member_id']).execute();
      await db.schema.createIndex('login_links_member').on('login_links').columns(['org_id', 'member_id']).execute();
    },
  },
  '0014_conversation_counts': {
    // Counts without scanning (store/conversation-counts.ts): counters per combination of
    // the filtered columns, kept by triggers in the writing transaction. At 100,000
    // conversations the four built-in views' counts were a scan of the org's index each
    // (4-6 ms apiece on SQLite, uncached), now a sum of a few counter rows.
    async up(db: Kysely<any>): Promise<void> {
      await createConversationCounts(db, t.dialect, t.key);
    },
  },
  '0015_covering_list_indexes': {
    // Every list names `is_blocked` (the default list hides blocked counterparts), which
    // the list indexes did not hold: a page read each of its rows from the table to test
    // it. With `is_blocked` after the equality columns and `merged_into` last (SQLite
    // uses a partial index as covering only when it holds every column the query names),
    // a page's positions come from the index alone (EXPLAIN: COVERING INDEX on SQLite).
    // The first page's query of 100,000 conversations, ids only: 0.10–0.11 ms before, about 0.05 ms after (SQLite).
    async up(db: Kysely<any>): Promise<void> {
      const live = (name: string, columns: string[]) => db.schema.createIndex(name).on('conversations').columns(columns)
        .where(sql.ref('merged_into'), 'is', null).execute();
      for (const name of ['conversations_org_recent', 'conversations_identity_recent']) await db.schema.dropIndex(name).execute();
      await live('conversations_org_recent', ['org_id', 'is_blocked', 'last_event_at desc', 'id desc', 'merged_into']);
      await live('conversations_identity_recent', ['org_id', 'identity_id', 'is_blocked', 'last_event_at desc', 'id desc', 'merged_into']);
    },
  },
};
}
