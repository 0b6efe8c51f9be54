/**
 * API keys issued by the operator, who holds the store itself (`switchboard keys create`):
 * how a lost key is replaced without any key to call the API with.
 *
 * The operator may grant anything in the organization, but a key is made by the same
 * service as `POST /v1/api_keys` ({@link issueKey}), so the same rules hold (the member
 * and identity must belong to the organization; a member's role and an identity scope
 * narrow what the key holds), and, unlike the API, which narrows silently, a permission
 * the key could not hold is refused, naming it and why.
 */
import { AppError } from '../errors.js';
import { isId } from '../ids.js';
import { findIdentityByHandle } from '../store/identities.js';
import { findMember, findMemberByEmail } from '../store/members.js';
import type { Store } from '../store/store.js';
import type { ApiKeyRow } from '../store/tenants.js';
import { effectivePermissions, PERMISSIONS, type Permission, type Principal, type Role } from './access.js';
import { issueKey } from './members.js';
import type { CreatedKey } from './tenants.js';

export interface OperatorKeyRequest {
  readonly name: string;
  /** The member the key acts as: a member id or email; null or omitted for none. */
  readonly member?: string | null;
  /** The one identity the key sees: an identity id or handle; null or omitted for org-wide. */
  readonly identity?: string | null;
  /** Permission names; null or omitted for every permission the key can hold. */
  readonly permissions?: readonly string[] | null;
}

/** The operator, as the granting principal: every permission in the organization. */
export function operatorPrincipal(orgId: string): Principal {
  return { orgId, keyId: 'operator', memberId: null, role: null, identityId: null, permissions: new Set(PERMISSIONS) };
}

/**
 * Issues a key of the organization on the operator's authority.
 *
 * @returns the key (its secret shown once) and its stored row.
 * @throws AppError `validation_failed` (param `permissions`: a name that is no permission),
 *   `not_a_member` (param `member_id`), `not_found` (param `identity_id`),
 *   `missing_permission` (param `permissions`: one the member's role or the identity scope
 *   takes away).
 */
export async function issueOperatorKey(store: Store, orgId: string, request: OperatorKeyRequest): Promise<{ key: CreatedKey; row: ApiKeyRow }> {
  const permissions = request.permissions == null ? null : checkPermissionNames(request.permissions);
  const memberId = request.member == null ? null : await resolveMember(store, orgId, request.member);
  const identityId = request.identity == null ? null : await resolveIdentity(store, orgId, request.identity);
  if (permissions) {
    const role = memberId ? ((await findMember(store.db, orgId, memberId))?.role ?? null) as Role | null : null;
    const held = effectivePermissions(permissions, role, identityId !== null);
    const refused = permissions.filter((p) => !held.has(p));
    if (refused.length > 0) {
      const why = [role === 'agent' ? `${memberId} is an agent` : null, identityId ? `the key is scoped to ${identityId}` : null]
        .filter(Boolean).join(' and ');
      throw new AppError('missing_permission', `This key cannot hold ${refused.join(', ')}: ${why}.`, {
        param: 'permissions', fix: 'Leave those permissions out, or issue the key for an owner or admin member without an identity scope.',
      });
    }
  }
  return issueKey(store, operatorPrincipal(orgId), { name: request.name, member_id: memberId, identity_id: identityId, permissions });
}

function checkPermissionNames(names: readonly string[]): Permission[] {
  const known = new Set<string>(PERMISSIONS);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new AppError('validation_failed', `Unknown permission ${unknown.join(', ')}; the permissions are ${PERMISSIONS.join(', ')}.`, { param: 'permissions' });
  }
  return [...new Set(names)] as Permission[];
}

/** A member id as given (issueKey checks it), or the id of the member with that email. */
async function resolveMember(store: Store, orgId: string, member: string): Promise<string> {
  if (!member.includes('@')) return member;
  const row = await findMemberByEmail(store.db, orgId, member);
  if (!row) throw new AppError('not_a_member', `No member of this organization has the email ${member}.`, { param: 'member_id' });
  return row.id;
}

/** An identity id as given (issueKey checks it), or the id of the identity with that handle. */
async function resolveIdentity(store: Store, orgId: string, identity: string): Promise<string> {
  if (isId('idn', identity)) return identity;
  const row = await findIdentityByHandle(store.db, orgId, identity);
  if (!row) throw new AppError('not_found', `No identity with the id or handle ${identity}.`, { param: 'identity_id' });
  return row.id;
}
