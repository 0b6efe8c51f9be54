/**
 * Members (staff) and API keys as an administrator manages them: roles, the last-owner
 * rule, key grants that never exceed the granting key, and revocation.
 */
import { isoNow, type Clock } from '../clock.js';
import { AppError, notFound } from '../errors.js';
import { isId, newId } from '../ids.js';
import { findIdentity } from '../store/identities.js';
import { countOwners, findMember, type MemberRow } from '../store/members.js';
import { deleteMemberLoginLinks, revokeMemberSessions } from '../store/sessions.js';
import { inOrgTransaction } from '../store/sequences.js';
import { isUniqueViolation } from '../store/errors.js';
import type { Db, Store } from '../store/store.js';
import { revokeMemberKeys, type ApiKeyRow } from '../store/tenants.js';
import { effectivePermissions, type Permission, type Principal, type Role } from './access.js';
import { assign } from './inbox.js';
import { createApiKey, type CreatedKey } from './tenants.js';

export interface NewMember {
  readonly email: string;
  readonly name?: string | null;
  readonly role: Role;
  /** The one identity the member sees; null or absent for all. */
  readonly identity_id?: string | null;
}

/** @throws AppError `not_found` (param `identity_id`) unless `id` is null or an identity of the org. */
async function checkIdentity(db: Db, orgId: string, id: string | null | undefined): Promise<void> {
  if (id != null && !(isId('idn', id) && await findIdentity(db, orgId, id))) {
    throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
  }
}

const emailInUse = (email: string) => new AppError('email_in_use', `A member with email ${email} exists.`, { param: 'email' });

/** @throws AppError `email_in_use`, `not_found` (param `identity_id`). */
export async function createMember(store: Store, orgId: string, input: NewMember, now: string): Promise<MemberRow> {
  await checkIdentity(store.db, orgId, input.identity_id);
  const row: MemberRow = {
    id: newId('mem'), org_id: orgId, email: input.email.toLowerCase(), name: input.name ?? null, role: input.role,
    identity_id: input.identity_id ?? null, created_at: now, updated_at: now,
  };
  try {
    await store.db.insertInto('members').values(row).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw emailInUse(row.email);
    throw err;
  }
  return row;
}

export async function getMember(db: Db, orgId: string, id: string): Promise<MemberRow> {
  const row = isId('mem', id) ? await findMember(db, orgId, id) : undefined;
  if (!row) throw notFound('member');
  return row;
}

/**
 * Changes a member's name, email, role or identity scope (under the org's write lock: the
 * version bump makes every node re-read keys acting as the member). Limiting the member to
 * an identity revokes their keys scoped to another one; a new address voids their unused
 * sign-in links.
 *
 * @throws AppError `not_found`, `email_in_use`, `last_owner` (demoting the only owner).
 */
export async function updateMember(
  store: Store, orgId: string, id: string, patch: { name?: string | null; email?: string; role?: Role; identity_id?: string | null }, now: string,
): Promise<MemberRow> {
  return inOrgTransaction(store, orgId, async (tx) => {
    const row = await getMember(tx, orgId, id);
    if (row.role === 'owner' && patch.role !== undefined && patch.role !== 'owner' && await countOwners(tx, orgId) <= 1) {
      throw new AppError('last_owner', `${id} is the only owner; it cannot become ${patch.role}.`, { param: 'role' });
    }
    await checkIdentity(tx, orgId, patch.identity_id);
    const next: MemberRow = {
      ...row, name: patch.name === undefined ? row.name : patch.name, role: patch.role ?? row.role,
      email: (patch.email ?? row.email).toLowerCase(), identity_id: patch.identity_id === undefined ? row.identity_id : patch.identity_id,
      updated_at: now,
    };
    try {
      await tx.updateTable('members').set({ name: next.name, email: next.email, role: next.role, identity_id: next.identity_id, updated_at: now })
        .where('id', '=', id).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw emailInUse(next.email);
      throw err;
    }
    // A sign-in link mailed to the old address must not outlive the change.
    if (next.email !== row.email) await deleteMemberLoginLinks(tx, orgId, id);
    if (next.identity_id !== null) {
      // A key acting as the member never sees more than the member: one scoped to another
      // identity than the new limit is revoked with the change.
      await revokeMemberKeys(tx, orgId, id, now, next.identity_id);
    }
    return next;
  });
}

/**
 * Removes a member: the keys acting as them are revoked, their sessions ended, and their conversations are
 * unassigned (an `assigned` event with `assigned_to: null` on each).
 *
 * @throws AppError `not_found`, `last_owner`.
 */
export async function deleteMember(store: Store, orgId: string, id: string, by: Principal, clock: Clock): Promise<void> {
  const now = isoNow(clock);
  await inOrgTransaction(store, orgId, async (tx) => {
    const row = await getMember(tx, orgId, id);
    if (row.role === 'owner' && await countOwners(tx, orgId) <= 1) {
      throw new AppError('last_owner', `${id} is the only owner; make another member an owner first.`);
    }
    await revokeMemberKeys(tx, orgId, id, now);
    await revokeMemberSessions(tx, orgId, id, now);
    await tx.deleteFrom('members').where('id', '=', id).execute();
  });
  const assigned = await store.db.selectFrom('conversations').select('id').where('org_id', '=', orgId).where('assigned_to', '=', id)
    .where('merged_into', 'is', null).execute();
  for (const c of assigned) await assign(store, orgId, c.id, null, { member_id: by.memberId, key_id: by.keyId }, clock);
}

export interface KeyRequest {
  readonly name: string;
  readonly member_id?: string | null;
  readonly identity_id?: string | null;
  readonly permissions?: readonly Permission[] | null;
}

/**
 * Creates a key for the caller's org. The new key may not do more than the caller's:
 * its effective permissions must be among the caller's, and a caller scoped to an
 * identity (which cannot reach this anyway: keys are `members:manage`) could not widen it.
 *
 * @throws AppError `not_a_member` (param `member_id`), `not_found` (param `identity_id`),
 *   `missing_permission` (a permission the caller lacks).
 */
export async function issueKey(store: Store, caller: Principal, input: KeyRequest): Promise<{ key: CreatedKey; row: ApiKeyRow }> {
  // Under the org lock: a member removed meanwhile (which revokes their keys) cannot
  // leave behind a key issued for them whose role then reads as none (every permission).
  return inOrgTransaction(store, caller.orgId, (tx) => issueKeyIn(tx, caller, input));
}

async function issueKeyIn(db: Db, caller: Principal, input: KeyRequest): Promise<{ key: CreatedKey; row: ApiKeyRow }> {
  const { orgId } = caller;
  let role: Role | null = null;
  let memberScope: string | null = null;
  if (input.member_id != null) {
    const member = isId('mem', input.member_id) ? await findMember(db, orgId, input.member_id) : undefined;
    if (!member) throw new AppError('not_a_member', `${input.member_id} is not a member of this organization.`, { param: 'member_id' });
    role = member.role as Role;
    memberScope = member.identity_id;
  }
  await checkIdentity(db, orgId, input.identity_id);
  // A key acting as a member limited to one identity is limited to it too (api keys see no more than their member).
  if (memberScope !== null && input.identity_id != null && input.identity_id !== memberScope) {
    throw new AppError('forbidden_identity', `${input.member_id} sees only ${memberScope}; a key acting as them cannot see ${input.identity_id}.`, { param: 'identity_id' });
  }
  const granted = effectivePermissions(input.permissions ?? null, role, (input.identity_id ?? memberScope) != null);
  const excess = [...granted].filter((p) => !caller.permissions.has(p));
  if (excess.length > 0) {
    throw new AppError('missing_permission', `A key cannot grant what the granting key lacks: ${excess.join(', ')}.`, {
      param: 'permissions', fix: 'List only permissions your own key holds in `permissions`.',
    });
  }
  const key = await createApiKey(db, orgId, input.name, {
    memberId: input.member_id ?? null, identityId: input.identity_id ?? null, permissions: input.permissions ?? null,
  });
  return { key, row: key.row };
}

/**
 * Revokes a key of the org (again is a no-op), under the org's write lock: the version
 * bump makes every node drop the key's remembered row (services/authentication.ts).
 *
 * @throws AppError `not_found`.
 */
export async function revokeKey(store: Store, orgId: string, id: string, now: string): Promise<ApiKeyRow> {
  if (!isId('key', id)) throw notFound('API key');
  return inOrgTransaction(store, orgId, async (tx) => {
    const row = await tx.selectFrom('api_keys').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('API key');
    if (row.revoked_at) return row;
    await tx.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', id).execute();
    return { ...row, revoked_at: now };
  });
}
