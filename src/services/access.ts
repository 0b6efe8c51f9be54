/**
 * What a key may do (SPEC section 2, "API key"): its permission list, narrowed by the
 * role of the member it acts as and by an identity scope.
 *
 * - A key without a permission list holds every permission.
 * - A key acting as an `agent` member loses the administrative permissions
 *   ({@link ADMIN_PERMISSIONS}); `owner` and `admin` keep them.
 * - An identity-scoped key sees one identity's conversations and loses the
 *   administrative permissions too: it cannot widen its own reach. It also loses what
 *   changes things the whole organization shares ({@link ORG_WIDE_PERMISSIONS}: saved
 *   views), which an agent member's org-wide key keeps.
 */

/** Every permission a key can hold. */
export const PERMISSIONS = [
  'conversations:read',
  'conversations:write',
  'messages:send',
  'suggestions:write',
  'training_pairs:read',
  'contacts:read',
  'contacts:write',
  'identities:read',
  'identities:write',
  'events:read',
  'views:write',
  'inbound:write',
  'webhooks:manage',
  'members:manage',
  'settings:manage',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

/** Permissions that change who can do what, or where data goes: owners and admins only. */
export const ADMIN_PERMISSIONS: readonly Permission[] = [
  'identities:write', 'webhooks:manage', 'members:manage', 'settings:manage', 'contacts:write', 'inbound:write',
];

/**
 * Permissions that change what every key of the organization shares, without being
 * administrative: not held by a key scoped to one identity (it would change, for
 * instance, the saved views of identities it cannot see).
 */
export const ORG_WIDE_PERMISSIONS: readonly Permission[] = ['views:write'];

export const ROLES = ['owner', 'admin', 'agent'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: the org every query is scoped to, the key, and what it may do. */
export interface Principal {
  readonly orgId: string;
  readonly keyId: string;
  /** The member the key acts as, or null. */
  readonly memberId: string | null;
  readonly role: Role | null;
  /** The one identity the key sees, or null for an org-wide key. */
  readonly identityId: string | null;
  readonly permissions: ReadonlySet<Permission>;
  /**
   * The organization's state version read with the key at the start of the request
   * (store/sequences.ts), for the read cache; absent for principals made otherwise.
   */
  readonly orgVersion?: number;
}

/**
 * The permissions a key effectively holds.
 *
 * @param listed the key's permission list, or null for all.
 */
export function effectivePermissions(listed: readonly Permission[] | null, role: Role | null, scoped: boolean): Set<Permission> {
  const out = new Set<Permission>(listed ?? PERMISSIONS);
  if (role === 'agent' || scoped) for (const p of ADMIN_PERMISSIONS) out.delete(p);
  if (scoped) for (const p of ORG_WIDE_PERMISSIONS) out.delete(p);
  return out;
}

/** Parses a stored permission list, dropping names this version no longer knows. */
export function parsePermissions(json: string | null): Permission[] | null {
  if (json === null) return null;
  const known = new Set<string>(PERMISSIONS);
  return (JSON.parse(json) as string[]).filter((p): p is Permission => known.has(p));
}

/** The actor recorded on events: the key and the member it acts as. */
export function actorOf(p: Principal): { member_id: string | null; key_id: string } {
  return { member_id: p.memberId, key_id: p.keyId };
}
