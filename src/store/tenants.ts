/**
 * Organizations and their API keys.
 */
import type { Selectable } from 'kysely';
import type { ApiKeysTable, OrganizationsTable } from './schema.js';
import type { Db } from './store.js';

export type OrganizationRow = Selectable<OrganizationsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;

export async function insertOrganization(db: Db, row: OrganizationRow): Promise<void> {
  await db.insertInto('organizations').values(row).execute();
}

export async function listOrganizations(db: Db): Promise<OrganizationRow[]> {
  return db.selectFrom('organizations').selectAll().orderBy('id').execute();
}

export async function insertApiKey(db: Db, row: ApiKeyRow): Promise<void> {
  await db.insertInto('api_keys').values(row).execute();
}

/**
 * A key by id, revoked or not, with the role of the member it acts as (null for none);
 * the caller checks the secret and revocation.
 */
/**
 * A key with its member's role and its organization's state version (store/sequences.ts),
 * in one read: a request's read-cache lookup needs no second one.
 */
export async function findApiKey(db: Db, id: string): Promise<(ApiKeyRow & { role: string | null; member_identity_id: string | null; org_version: number | string | null }) | undefined> {
  return db.selectFrom('api_keys').leftJoin('members', 'members.id', 'api_keys.member_id')
    .leftJoin('org_sequences', 'org_sequences.org_id', 'api_keys.org_id')
    .selectAll('api_keys').select(['members.role', 'members.identity_id as member_identity_id', 'org_sequences.version as org_version'])
    .where('api_keys.id', '=', id).executeTakeFirst();
}

/**
 * Revokes the live keys acting as a member; with `outside`, only those scoped to another
 * identity than it (a key scoped to none, or to `outside`, stays).
 */
export async function revokeMemberKeys(db: Db, orgId: string, memberId: string, at: string, outside?: string): Promise<void> {
  let q = db.updateTable('api_keys').set({ revoked_at: at }).where('org_id', '=', orgId).where('member_id', '=', memberId).where('revoked_at', 'is', null);
  if (outside !== undefined) q = q.where('identity_id', 'is not', null).where('identity_id', '!=', outside);
  await q.execute();
}

export async function touchApiKey(db: Db, id: string, at: string): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
}

/** Keys of the org (revoked ones too) in id order, keyset-paged after `afterId`; `limit + 1` rows. */
export async function listApiKeys(db: Db, orgId: string, limit: number, afterId?: string): Promise<ApiKeyRow[]> {
  let q = db.selectFrom('api_keys').selectAll().where('org_id', '=', orgId);
  if (afterId) q = q.where('id', '>', afterId);
  return q.orderBy('id').limit(limit + 1).execute();
}
