/**
 * Conversation counters: how many live conversations, and how many of them unread, per
 * organization and combination of the columns the inbox filters on (identity, channel,
 * archived, starred, blocked, overdue, assignee). Database triggers on `conversations`
 * keep them (migration 0014), so every write of a conversation row, whatever code path
 * makes it (an event's fold, a merge, a PATCH, a deleted identity's cascade), changes the
 * counters in its own transaction: they are exact at every commit, on both stores.
 *
 * A count whose filter names only those columns (the built-in views, `unread`, `starred`,
 * `assigned_to`, `overdue`, `archived`, `is_blocked`, `identity_id`, `channel`) is a sum,
 * made by the store, over the organization's counter rows (or one identity's) instead of
 * a scan of its conversations ({@link countFromCounters}, {@link countManyFromCounters});
 * one with `q`, `label`, `with`, `with_domain`, `since` or `until` still scans
 * (store/conversations.ts `countConversations`).
 */
import { sql, type Kysely } from 'kysely';
import type { ConversationFilter } from './conversations.js';
import { runTemplate } from './query-templates.js';
import type { Db, Dialect } from './store.js';

/** The counted columns of `conversations`, in the key order of `conversation_counts`. */
const DIMENSIONS = ['identity_id', 'channel', 'archived', 'starred', 'is_blocked', 'overdue'] as const;

/** The trigger condition: a counted column, liveness or unread-ness changed. */
const CHANGED = [...DIMENSIONS, 'assigned_to', 'merged_into'].map((c) => `old.${c} is distinct from new.${c}`)
  .concat('(old.unread_count > 0) is distinct from (new.unread_count > 0)').join(' or ');

const KEY = `org_id, ${DIMENSIONS.join(', ')}, assignee`;

/** Statements adding one row's contribution (`r` is `new`) or taking it away (`old`). */
function add(r: 'new', dialect: Dialect): string {
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
export async function createConversationCounts(db: Kysely<any>, dialect: Dialect, key: unknown): Promise<void> {
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

/** A count: how many conversations match, and how many of those have unread messages. */
export interface Count {
  readonly total: number;
  readonly unread: number;
}

/** Applies the `unread` filter to summed counts (`unread` counts conversations, not messages). */
function withUnread(total: number, unread: number, f: ConversationFilter): Count {
  if (f.unread === true) return { total: unread, unread };
  if (f.unread === false) return { total: total - unread, unread: 0 };
  return { total, unread };
}

/** A condition on a counter row: its column, the comparison, the value. */
type Condition = readonly [column: 'identity_id' | 'channel' | 'archived' | 'starred' | 'is_blocked' | 'overdue' | 'assignee', op: '=' | '<>', value: string | number];

/** The conditions on a counter row that a countable filter makes (none: every row). */
function conditions(f: ConversationFilter): Condition[] {
  const out: Condition[] = [];
  if (f.identityId) out.push(['identity_id', '=', f.identityId]);
  if (f.channel) out.push(['channel', '=', f.channel]);
  const flags = [['archived', f.archived], ['starred', f.starred], ['is_blocked', f.isBlocked], ['overdue', f.overdue]] as const;
  for (const [column, value] of flags) if (value !== undefined) out.push([column, '=', value ? 1 : 0]);
  // Nobody's is '' in a counter row; someone else's excludes only that member's.
  if (f.assignedTo !== undefined) out.push(['assignee', '=', f.assignedTo ?? '']);
  if (f.notAssignedTo !== undefined) out.push(['assignee', '<>', f.notAssignedTo]);
  return out;
}

/**
 * The counts of countable filters ({@link countable}) from the organization's counter
 * rows, summed by the store in one statement whatever the number of filters or rows: one
 * row comes back, two sums a filter. Reading the counter rows into JavaScript and summing
 * there cost about 1 µs a row in better-sqlite3 alone (24 rows: 28–43 µs, against 7 µs for
 * a sum), and an organization of many identities and members has thousands of rows. The
 * statement is compiled once per shape of the filters (store/query-templates.ts).
 *
 * @param filters countable filters; the counts come back in their order.
 * @throws Error when a filter is not countable (the caller counts rows for those).
 */
export async function countManyFromCounters(db: Db, orgId: string, filters: readonly ConversationFilter[]): Promise<Count[]> {
  if (filters.length === 0) return [];
  const perFilter = filters.map((f) => {
    if (!countable(f)) throw new Error('countManyFromCounters: a filter names a column the counters do not hold');
    return conditions(f);
  });
  // Filters of one identity (an identity's key, `identity_id=`) read only its rows of the key's index.
  const identityId = filters.every((f) => f.identityId && f.identityId === filters[0]!.identityId) ? filters[0]!.identityId! : null;
  const shape = `counts:${identityId ? 'identity:' : ''}${perFilter.map((cs) => cs.map(([column, op]) => `${column}${op}`).join(',')).join(';')}`;
  const values: unknown[] = [orgId, ...(identityId ? [identityId] : []), ...perFilter.flat().map(([, , value]) => value)];
  const [row] = await runTemplate(db, shape, values, (value) => {
    let next = identityId ? 2 : 1;
    const sums = perFilter.flatMap((cs, i) => {
      const parts = cs.map(([column, op]) => sql`${sql.ref(column)} ${sql.raw(op)} ${value(next++)}`);
      const when = parts.length ? sql.join(parts, sql` and `) : sql`1 = 1`;
      return [
        sql<number | string>`coalesce(sum(case when ${when} then total else 0 end), 0)`.as(`t${i}`),
        sql<number | string>`coalesce(sum(case when ${when} then unread else 0 end), 0)`.as(`u${i}`),
      ];
    });
    const query = db.selectFrom('conversation_counts').select(sums).where('org_id', '=', value(0) as string);
    return identityId ? query.where('identity_id', '=', value(1) as string) : query;
  });
  const sums = row as Record<string, number | string>;
  return filters.map((f, i) => withUnread(Number(sums[`t${i}`]), Number(sums[`u${i}`]), f));
}

/**
 * The count of a filter from the counters, or null when the filter names a column they
 * do not hold (`q`, `label`, `with`, `withDomain`, `since`, `until`: the caller scans).
 * One statement summing the organization's counter rows ({@link countManyFromCounters}).
 */
export async function countFromCounters(db: Db, orgId: string, f: ConversationFilter): Promise<Count | null> {
  return countable(f) ? (await countManyFromCounters(db, orgId, [f]))[0]! : null;
}
