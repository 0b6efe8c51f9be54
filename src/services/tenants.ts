/**
 * Organizations and API keys: creation (authentication is services/authentication.ts).
 *
 * A key looks like `sb_key_<26 chars>_<43 chars>`: the key id, then a 256-bit secret
 * (base64url). Only the SHA-256 of the secret is stored; it is compared in constant time.
 */
import crypto from 'node:crypto';
import type { Transaction } from 'kysely';
import { newId } from '../ids.js';
import type { Database } from '../store/schema.js';
import { nextSeqs } from '../store/sequences.js';
import type { Db, Store } from '../store/store.js';
import { insertApiKey, insertOrganization, type ApiKeyRow } from '../store/tenants.js';
import type { Permission } from './access.js';

export type { Principal } from './access.js';

export interface CreatedKey {
  readonly id: string;
  /** The full key; shown once, never stored. */
  readonly key: string;
  /** The stored row (the secret's hash, never the secret). */
  readonly row: ApiKeyRow;
}

/** A key's text: `sb_`, the key id, `_`, the secret. */
export const KEY_PATTERN = /^sb_(key_[0-9a-z]{26})_([A-Za-z0-9_-]{43})$/;

/** The SHA-256 of a key's secret, as stored (hex) in `api_keys.secret_hash`. */
export function hashSecret(secret: string): Buffer {
  return crypto.createHash('sha256').update(secret).digest();
}

/** What a new key may do; all omitted means an org-wide key with every permission. */
export interface KeyGrant {
  readonly memberId?: string | null;
  readonly identityId?: string | null;
  /** null or omitted: every permission. */
  readonly permissions?: readonly Permission[] | null;
}

/** Creates an API key for the org and returns the key once. The caller checks the grant's ids belong to the org. */
export async function createApiKey(db: Db, orgId: string, name: string, grant: KeyGrant = {}): Promise<CreatedKey> {
  const id = newId('key');
  const secret = crypto.randomBytes(32).toString('base64url');
  const row: ApiKeyRow = {
    id, org_id: orgId, name, secret_hash: hashSecret(secret).toString('hex'),
    created_at: new Date().toISOString(), last_used_at: null, revoked_at: null,
    member_id: grant.memberId ?? null, identity_id: grant.identityId ?? null,
    permissions: grant.permissions ? JSON.stringify([...new Set(grant.permissions)]) : null,
  };
  await insertApiKey(db, row);
  return { id, key: `sb_${id}_${secret}`, row };
}

export interface CreatedOrganization {
  readonly orgId: string;
  readonly apiKey: CreatedKey;
}

/** Inserts an organization and its first API key (in the caller's transaction, for both or neither). */
export async function insertOrganizationWithKey(db: Db, name: string): Promise<CreatedOrganization> {
  const orgId = newId('org');
  await insertOrganization(db, { id: orgId, name, created_at: new Date().toISOString() });
  return { orgId, apiKey: await createApiKey(db, orgId, 'first key') };
}

/** Creates an organization with its first API key (both, or neither). */
export function createOrganization(store: Store, name: string): Promise<CreatedOrganization> {
  return store.transaction((tx) => insertOrganizationWithKey(tx, name));
}

/** The `org_sequences` row whose lock serializes first runs (no organization has this id). */
const FIRST_RUN_LOCK = 'first-run';

/**
 * Inside a transaction: waits for, then holds until commit, the lock that serializes
 * everything that creates an organization only when the store has none (first starts of
 * `serve`, `switchboard init`), so that two of them never both find the store empty.
 */
export async function lockFirstRun(tx: Transaction<Database>): Promise<void> {
  await nextSeqs(tx, FIRST_RUN_LOCK, 0);
}

