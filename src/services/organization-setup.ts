/**
 * Setting a store up (`switchboard init`): idempotent, so that running it again, or on
 * a store a first `serve` already set up, creates no second organization.
 *
 * The set-up an operator gets is an organization, its first API key (shown once) and an
 * owner member (SPEC section 2: the staff user who owns the organization, whom people's
 * sign-in acts as when no other member is named).
 */
import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import { findFirstOwner, findMemberByEmail, insertMember, type MemberRow } from '../store/members.js';
import type { Db, Store } from '../store/store.js';
import { listOrganizations, type OrganizationRow } from '../store/tenants.js';
import { insertOrganizationWithKey, lockFirstRun, type CreatedKey } from './tenants.js';

/** The owner member's email when none is given: `.invalid` (RFC 2606) says it reaches no one. */
export const DEFAULT_OWNER_EMAIL = 'owner@switchboard.invalid';

export interface SetUpRequest {
  /** The organization's name, used only when one is created. */
  readonly name: string;
  /** The owner member's email, used only when the owner is created (default {@link DEFAULT_OWNER_EMAIL}). */
  readonly ownerEmail?: string;
  /** Create an organization even when the store has some already. */
  readonly newOrganization?: boolean;
}

export interface SetUp {
  /** The organization created, or, on a store that had some, the first of them (in creation order). */
  readonly organization: OrganizationRow;
  /** The new organization's first key (its secret shown once); null when none was created. */
  readonly apiKey: CreatedKey | null;
  /** The organization's (first) owner member. */
  readonly owner: MemberRow;
  readonly ownerCreated: boolean;
  /** Every organization of the store, in creation order, the one created included. */
  readonly organizations: readonly OrganizationRow[];
}

/**
 * Makes sure the store has an organization with an owner member, creating only what is
 * missing: on an empty store (or with `newOrganization`) an organization with its first
 * key and its owner; on a store with organizations nothing but, when the first one has no
 * owner member (stores set up before members existed), that owner. All in one
 * transaction, serialized with first starts of `serve` ({@link lockFirstRun}).
 *
 * @throws AppError `email_in_use` when the first organization has no owner and a member
 *   who is not one already has `ownerEmail`.
 */
export function setUpOrganization(store: Store, request: SetUpRequest): Promise<SetUp> {
  return store.transaction(async (tx) => {
    await lockFirstRun(tx);
    const existing = await listOrganizations(tx);
    if (existing.length > 0 && !request.newOrganization) {
      const organization = existing[0]!;
      const { owner, created } = await ensureOwner(tx, organization.id, request.ownerEmail);
      return { organization, apiKey: null, owner, ownerCreated: created, organizations: existing };
    }
    const { orgId, apiKey } = await insertOrganizationWithKey(tx, request.name);
    const { owner, created } = await ensureOwner(tx, orgId, request.ownerEmail);
    const organizations = await listOrganizations(tx);
    const organization = organizations.find((o) => o.id === orgId)!;
    return { organization, apiKey, owner, ownerCreated: created, organizations };
  });
}

async function ensureOwner(db: Db, orgId: string, email = DEFAULT_OWNER_EMAIL): Promise<{ owner: MemberRow; created: boolean }> {
  const owner = await findFirstOwner(db, orgId);
  if (owner) return { owner, created: false };
  const taken = await findMemberByEmail(db, orgId, email);
  if (taken) {
    throw new AppError('email_in_use', `${taken.id} (${taken.role}) has the email ${taken.email}, and the organization has no owner: `
      + 'give the owner another email, or make that member an owner (PATCH /v1/members/{id} with role owner).', { param: 'owner_email' });
  }
  const now = new Date().toISOString();
  const row: MemberRow = {
    id: newId('mem'), org_id: orgId, email: email.toLowerCase(), name: 'Owner', role: 'owner', identity_id: null, created_at: now, updated_at: now,
  };
  await insertMember(db, row);
  return { owner: row, created: true };
}
