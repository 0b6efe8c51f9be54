/**
 * Members (staff users of an organization) and the keys that act as them.
 */
import type { Selectable } from 'kysely';
import type { MembersTable } from './schema.js';
import type { Db } from './store.js';

export type MemberRow = Selectable<MembersTable>;

export async function findMember(db: Db, orgId: string, id: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

/** Members of the org in id (creation) order, keyset-paged after `afterId`; `limit + 1` rows. */
export async function listMembers(db: Db, orgId: string, limit: number, afterId?: string): Promise<MemberRow[]> {
  let q = db.selectFrom('members').selectAll().where('org_id', '=', orgId);
  if (afterId) q = q.where('id', '>', afterId);
  return q.orderBy('id').limit(limit + 1).execute();
}

/** How many owners the org has. */
export async function countOwners(db: Db, orgId: string): Promise<number> {
  const row = await db.selectFrom('members').select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('org_id', '=', orgId).where('role', '=', 'owner').executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertMember(db: Db, row: MemberRow): Promise<void> {
  await db.insertInto('members').values(row).execute();
}

/** The org's first owner (in id, that is creation, order), or undefined when it has none. */
export async function findFirstOwner(db: Db, orgId: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('org_id', '=', orgId).where('role', '=', 'owner')
    .orderBy('id').limit(1).executeTakeFirst();
}

/** A member of the org by email (lower-cased, as stored), or undefined. */
export async function findMemberByEmail(db: Db, orgId: string, email: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('org_id', '=', orgId).where('email', '=', email.toLowerCase())
    .executeTakeFirst();
}
