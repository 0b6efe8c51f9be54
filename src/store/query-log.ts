/**
 * Store query timing through Kysely's `log` option (https://kysely.dev/docs/recipes/logging):
 * Kysely times every query it runs, transactions' `begin`/`commit` included, and hands the
 * duration to the logger; this turns that into a call of the store's {@link QueryObserver}.
 */
import type { LogConfig, LogEvent } from 'kysely';

/** What a query was, from its root node (begin/commit/rollback are `transaction`). */
export type QueryKind = 'select' | 'insert' | 'update' | 'delete' | 'transaction' | 'raw' | 'schema';

/**
 * Told of every store query once it ends (api metrics: `switchboard_store_query_duration_seconds`).
 *
 * @param durationMs how long the query took, milliseconds.
 * @param failed whether it threw.
 */
export type QueryObserver = (kind: QueryKind, durationMs: number, failed: boolean) => void;

const NODE_KINDS: Readonly<Record<string, QueryKind>> = {
  SelectQueryNode: 'select', InsertQueryNode: 'insert', UpdateQueryNode: 'update', DeleteQueryNode: 'delete', MergeQueryNode: 'update',
};
const TRANSACTION_SQL = /^\s*(begin|commit|rollback|start transaction|savepoint|release)\b/i;

/** The kind of a query Kysely ran. */
export function queryKind(event: LogEvent): QueryKind {
  const node = event.query.query;
  const kind = NODE_KINDS[node.kind];
  if (kind) return kind;
  if (node.kind === 'RawNode') return TRANSACTION_SQL.test(event.query.sql) ? 'transaction' : 'raw';
  return 'schema';
}

/** Kysely's `log` option calling `observe` for each query; undefined (no logging at all) without one. */
export function queryLog(observe: QueryObserver | undefined): LogConfig | undefined {
  if (!observe) return undefined;
  return (event) => observe(queryKind(event), event.queryDurationMillis, event.level === 'error');
}
