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
 * conversations ({@link countFromCounters}, {@link countFromRows}); one with `q`, `label`, `with`, `with_domain`,
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
    // The assigned member's id, '' for none (a key column cannot be null).
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
  // A few rows updated by every conversation write: room on their pages for HOT updates,
  // and vacuumed after a thousand dead versions rather than a fifth of a tiny table.
  await sql.raw(`alter table conversation_counts set (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000)`).execute(db);
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

/** Whether the counters can count `f`: it names only counted columns. */
export function countable(f: ConversationFilter): boolean {
  return !(f.q?.length || f.label !== undefined || f.with || f.withDomain || f.since || f.until);
}

/** One counter row: a combination of the counted columns and its counts. */
export interface CounterRow {
  readonly identity_id: string;
  readonly channel: string;
  readonly archived: number;
  readonly starred: number;
  readonly is_blocked: number;
  readonly overdue: number;
  /** '' for none. */
  readonly assignee: string;
  readonly total: number;
  readonly unread: number;
}

/**
 * The organization's counter rows that count something: one read serves the counts of
 * every countable filter ({@link countFromRows}), e.g. all the views of one request.
 */
export async function readCounters(db: Db, orgId: string): Promise<CounterRow[]> {
  const rows = await db.selectFrom('conversation_counts')
    .select(['identity_id', 'channel', 'archived', 'starred', 'is_blocked', 'overdue', 'assignee', 'total', 'unread'])
    .where('org_id', '=', orgId).where('total', '>', 0).execute();
  return rows.map((r) => ({ ...r, archived: Number(r.archived), starred: Number(r.starred), is_blocked: Number(r.is_blocked), overdue: Number(r.overdue), total: Number(r.total), unread: Number(r.unread) }));
}

/** Applies the `unread` filter to summed counts (`unread` counts conversations, not messages). */
function withUnread(total: number, unread: number, f: ConversationFilter): { total: number; unread: number } {
  if (f.unread === true) return { total: unread, unread };
  if (f.unread === false) return { total: total - unread, unread: 0 };
  return { total, unread };
}

/**
 * The count of a countable filter ({@link countable}) from an organization's counter rows
 * ({@link readCounters}), or null when the filter is not countable.
 */
export function countFromRows(rows: readonly CounterRow[], f: ConversationFilter): { total: number; unread: number } | null {
  if (!countable(f)) return null;
  const flag = (v: boolean | undefined, x: number) => v === undefined || x === (v ? 1 : 0);
  let total = 0, unread = 0;
  for (const r of rows) {
    if (f.identityId && r.identity_id !== f.identityId) continue;
    if (f.channel && r.channel !== f.channel) continue;
    if (!flag(f.archived, r.archived) || !flag(f.starred, r.starred) || !flag(f.isBlocked, r.is_blocked) || !flag(f.overdue, r.overdue)) continue;
    if (f.assignedTo !== undefined && r.assignee !== (f.assignedTo ?? '')) continue;
    if (f.notAssignedTo !== undefined && r.assignee === f.notAssignedTo) continue;
    total += r.total;
    unread += r.unread;
  }
  return withUnread(total, unread, f);
}

/**
 * The count of a filter from the counters, or null when the filter names a column they
 * do not hold (`q`, `label`, `with`, `withDomain`, `since`, `until`: the caller scans).
 * Reads the organization's counter rows ({@link readCounters}) and sums those that match.
 */
export async function countFromCounters(db: Db, orgId: string, f: ConversationFilter): Promise<{ total: number; unread: number } | null> {
  return countable(f) ? countFromRows(await readCounters(db, orgId), f) : null;
}
