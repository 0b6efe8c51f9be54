/**
 * Conversation counters: how many live conversations, and how many of them unread, per
 * organization and combination of the columns the inbox filters on (identity, channel,
 * archived, starred, blocked, overdue, assignee). Database triggers on `conversations`
 * keep them (migration 0014), so every write of a conversation row, whatever code path
 * makes it (an event's fold, a merge, a PATCH, a deleted identity's cascade), changes the
 * counters in its own transaction: they are exact at every commit, on both stores.
 *
 * A count whose filter names only those columns (the built-in views, `unread`, `starred`,
 * `assigned_to`, `overdue`, `archived`, `is_blocked`, `identity_id`, `channel`) sums at
 * most a few hundred counter rows of the organization instead of scanning its
 * conversations ({@link countFromCounters}); one with `q`, `label`, `with`, `with_domain`,
 * `since` or `until` still scans (store/conversations.ts `countConversations`).
 */
import { sql, type Kysely } from 'kysely';
import type { ConversationFilter } from './conversations.js';
import type { Db } from './store.js';

/** The counted columns of `conversations`, in the key order of `conversation_counts`. */
const DIMENSIONS = ['identity_id', 'channel', 'archived', 'starred', 'is_blocked', 'overdue'] as const;

/** The trigger condition: a counted column, liveness or unread-ness changed. */
const CHANGED = [...DIMENSIONS, 'assigned_to', 'merged_into'].map((c) => `old.${c} is distinct from new.${c}`)
  .concat('(old.unread_count > 0) is distinct from (new.unread_count > 0)').join(' or ');

const KEY = `org_id, ${DIMENSIONS.join(', ')}, assignee`;

/** Statements adding one row's contribution (`r` is `new`) or taking it away (`old`). */
function add(r: 'new', dialect: 'sqlite' | 'postgres'): string {
  const unread = `case when ${r}.unread_count > 0 then 1 else 0 end`;
  const values = `${r}.org_id, ${DIMENSIONS.map((c) => `${r}.${c}`).join(', ')}, coalesce(${r}.assigned_to, '')`;
  // SQLite reads `insert … select … on conflict` only with a where clause (the upsert
  // parsing ambiguity, sqlite.org/lang_upsert.html); PostgreSQL checks liveness in its function.
  const select = dialect === 'sqlite' ? `select ${values}, 1, ${unread} where ${r}.merged_into is null` : `values (${values}, 1, ${unread})`;
  return `insert into conversation_counts (${KEY}, total, unread) ${select}
    on conflict (${KEY}) do update set total = conversation_counts.total + 1, unread = conversation_counts.unread + excluded.unread`;
}

function remove(r: 'old'): string {
  const match = ['org_id', ...DIMENSIONS].map((c) => `${c} = ${r}.${c}`).join(' and ');
  return `update conversation_counts set total = total - 1, unread = unread - (case when ${r}.unread_count > 0 then 1 else 0 end)
    where ${match} and assignee = coalesce(${r}.assigned_to, '') and ${r}.merged_into is null`;
}

/**
 * Creates `conversation_counts`, fills it from the conversations there are, and installs
 * the triggers that keep it (SQLite triggers; a PL/pgSQL trigger function on PostgreSQL).
 */
export async function createConversationCounts(db: Kysely<any>, dialect: 'sqlite' | 'postgres', key: unknown): Promise<void> {
  await db.schema.createTable('conversation_counts')
    .addColumn('org_id', key as 'text', (c) => c.notNull())
    .addColumn('identity_id', key as 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('archived', 'integer', (c) => c.notNull())
    .addColumn('starred', 'integer', (c) => c.notNull())
    .addColumn('is_blocked', 'integer', (c) => c.notNull())
    .addColumn('overdue', 'integer', (c) => c.notNull())
    /** The assigned member's id, '' for none (a key column cannot be null). */
    .addColumn('assignee', key as 'text', (c) => c.notNull())
    .addColumn('total', 'integer', (c) => c.notNull())
    .addColumn('unread', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('conversation_counts_pk', ['org_id', ...DIMENSIONS, 'assignee'] as never)
    .execute();
  await sql.raw(`insert into conversation_counts (${KEY}, total, unread)
    select org_id, ${DIMENSIONS.join(', ')}, coalesce(assigned_to, ''), count(*), sum(case when unread_count > 0 then 1 else 0 end)
    from conversations where merged_into is null
    group by org_id, ${DIMENSIONS.join(', ')}, coalesce(assigned_to, '')`).execute(db);
  if (dialect === 'sqlite') {
    await sql.raw(`create trigger conversation_counts_insert after insert on conversations begin ${add('new', dialect)}; end`).execute(db);
    await sql.raw(`create trigger conversation_counts_delete after delete on conversations begin ${remove('old')}; end`).execute(db);
    await sql.raw(`create trigger conversation_counts_update after update on conversations when ${CHANGED}
      begin ${remove('old')}; ${add('new', dialect)}; end`).execute(db);
    return;
  }
  await sql.raw(`create function conversation_counts_apply() returns trigger language plpgsql as $$
    begin
      if tg_op <> 'INSERT' then ${remove('old')}; end if;
      if tg_op <> 'DELETE' then
        if new.merged_into is null then ${add('new', dialect)}; end if;
      end if;
      return null;
    end $$`).execute(db);
  await sql.raw(`create trigger conversation_counts_insert_delete after insert or delete on conversations
    for each row execute function conversation_counts_apply()`).execute(db);
  await sql.raw(`create trigger conversation_counts_update after update on conversations
    for each row when (${CHANGED}) execute function conversation_counts_apply()`).execute(db);
}

/**
 * The count of a filter from the counters, or null when the filter names a column they
 * do not hold (`q`, `label`, `with`, `withDomain`, `since`, `until`: the caller scans).
 * Sums the organization's counter rows that match: at most one per combination of the
 * counted columns in use, whatever the number of conversations.
 */
export async function countFromCounters(db: Db, orgId: string, f: ConversationFilter): Promise<{ total: number; unread: number } | null> {
  if (f.q?.length || f.label !== undefined || f.with || f.withDomain || f.since || f.until) return null;
  let q = db.selectFrom('conversation_counts')
    .select((eb) => [eb.fn.sum<number | string | null>('total').as('total'), eb.fn.sum<number | string | null>('unread').as('unread')])
    .where('org_id', '=', orgId);
  const flag = (v: boolean | undefined) => (v === undefined ? undefined : v ? 1 : 0);
  if (f.identityId) q = q.where('identity_id', '=', f.identityId);
  if (f.channel) q = q.where('channel', '=', f.channel);
  for (const [column, value] of [['archived', f.archived], ['starred', f.starred], ['is_blocked', f.isBlocked], ['overdue', f.overdue]] as const) {
    const v = flag(value);
    if (v !== undefined) q = q.where(column, '=', v);
  }
  if (f.assignedTo !== undefined) q = q.where('assignee', '=', f.assignedTo ?? '');
  if (f.notAssignedTo !== undefined) q = q.where('assignee', '!=', f.notAssignedTo);
  const row = await q.executeTakeFirstOrThrow();
  const total = Number(row.total ?? 0), unread = Number(row.unread ?? 0);
  if (f.unread === true) return { total: unread, unread };
  if (f.unread === false) return { total: total - unread, unread: 0 };
  return { total, unread };
}
