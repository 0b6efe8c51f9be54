/**
 * Router connections on shared lines: one person on a line linked to one identity. At
 * most one active connection per (line, person), enforced by the partial unique index
 * `connections_active`. Every read is scoped by organization.
 */
import type { Selectable } from 'kysely';
import type { ConnectionsTable } from './schema.js';
import type { Db } from './store.js';

export type ConnectionRow = Selectable<ConnectionsTable>;

export async function findConnection(db: Db, orgId: string, id: string): Promise<ConnectionRow | undefined> {
  return db.selectFrom('connections').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

/** The active connection of `counterpart` on the line `accountId`, or undefined. */
export async function findActiveConnection(db: Db, orgId: string, accountId: string, counterpart: string): Promise<ConnectionRow | undefined> {
  return db.selectFrom('connections').selectAll()
    .where('org_id', '=', orgId).where('account_id', '=', accountId).where('counterpart', '=', counterpart)
    .where('status', '=', 'active').executeTakeFirst();
}

export interface ConnectionQuery {
  readonly limit: number;
  /** Keyset position: rows with a smaller id (older). */
  readonly beforeId?: string;
  readonly status?: string;
  readonly identityId?: string;
  readonly accountId?: string;
  /** Leave out connections whose conversation a contact rule blocks (for identity-scoped keys). */
  readonly hideBlocked?: boolean;
}

/** Connections of the org, newest first, keyset-paged on `id`; `limit + 1` rows. */
export async function listConnections(db: Db, orgId: string, q: ConnectionQuery): Promise<ConnectionRow[]> {
  let query = db.selectFrom('connections').selectAll().where('org_id', '=', orgId);
  if (q.status) query = query.where('status', '=', q.status);
  if (q.identityId) query = query.where('identity_id', '=', q.identityId);
  if (q.accountId) query = query.where('account_id', '=', q.accountId);
  if (q.beforeId) query = query.where('id', '<', q.beforeId);
  if (q.hideBlocked) {
    query = query.where('conversation_id', 'not in',
      db.selectFrom('conversations').select('id').where('org_id', '=', orgId).where('is_blocked', '=', 1));
  }
  return query.orderBy('id', 'desc').limit(q.limit + 1).execute();
}
