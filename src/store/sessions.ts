/**
 * People's sign-in rows: one-time login links and browser sessions (services/sessions.ts).
 */
import type { Selectable } from 'kysely';
import type { LoginLinksTable, SessionsTable } from './schema.js';
import type { Db } from './store.js';

export type LoginLinkRow = Selectable<LoginLinksTable>;
export type SessionRow = Selectable<SessionsTable>;

/** A session with what a request acting through it needs: its member's role and scope, and the org's state version. */
export type SessionWithMember = SessionRow & {
  role: string;
  member_identity_id: string | null;
  org_version: number | string | null;
};

export async function insertLoginLink(db: Db, row: LoginLinkRow): Promise<void> {
  await db.insertInto('login_links').values(row).execute();
}

/**
 * Marks an unused, unexpired link used and returns it, in one statement, so that two
 * requests with the same token cannot both succeed; undefined otherwise.
 */
export async function consumeLoginLink(db: Db, tokenHash: string, now: string): Promise<LoginLinkRow | undefined> {
  return db.updateTable('login_links').set({ used_at: now })
    .where('token_hash', '=', tokenHash).where('used_at', 'is', null).where('expires_at', '>', now)
    .returningAll().executeTakeFirst();
}

/** Drops the links that expired before `before` (used or not). */
export async function deleteExpiredLoginLinks(db: Db, before: string): Promise<void> {
  await db.deleteFrom('login_links').where('expires_at', '<', before).execute();
}

export async function insertSession(db: Db, row: SessionRow): Promise<void> {
  await db.insertInto('sessions').values(row).execute();
}

/** A session by id with its member (inner join: a removed member's sessions are gone) and the org's version. */
export async function findSession(db: Db, id: string): Promise<SessionWithMember | undefined> {
  return db.selectFrom('sessions').innerJoin('members', (j) => j.onRef('members.id', '=', 'sessions.member_id').onRef('members.org_id', '=', 'sessions.org_id'))
    .leftJoin('org_sequences', 'org_sequences.org_id', 'sessions.org_id')
    .selectAll('sessions').select(['members.role', 'members.identity_id as member_identity_id', 'org_sequences.version as org_version'])
    .where('sessions.id', '=', id).executeTakeFirst();
}

export async function touchSession(db: Db, id: string, at: string, expiresAt: string): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at: at, expires_at: expiresAt }).where('id', '=', id).execute();
}

/** Revokes one session of the org; returns whether it was live. */
export async function revokeSession(db: Db, orgId: string, id: string, at: string): Promise<boolean> {
  const r = await db.updateTable('sessions').set({ revoked_at: at })
    .where('org_id', '=', orgId).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Revokes every live session of a member; returns how many. */
export async function revokeMemberSessions(db: Db, orgId: string, memberId: string, at: string): Promise<number> {
  const r = await db.updateTable('sessions').set({ revoked_at: at })
    .where('org_id', '=', orgId).where('member_id', '=', memberId).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Drops a member's login links not yet used (their sign-in is being withdrawn, or their address changed). */
export async function deleteMemberLoginLinks(db: Db, orgId: string, memberId: string): Promise<void> {
  await db.deleteFrom('login_links').where('org_id', '=', orgId).where('member_id', '=', memberId).where('used_at', 'is', null).execute();
}

/** A member's sessions that are neither revoked nor expired, newest first. */
export async function listLiveSessions(db: Db, orgId: string, memberId: string, now: string): Promise<SessionRow[]> {
  return db.selectFrom('sessions').selectAll().where('org_id', '=', orgId).where('member_id', '=', memberId)
    .where('revoked_at', 'is', null).where('expires_at', '>', now).orderBy('id', 'desc').limit(100).execute();
}
