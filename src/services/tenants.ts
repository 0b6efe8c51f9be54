/**
 * Organizations and API keys: creation, and authentication of a bearer key.
 *
 * A key looks like `sb_key_<26 chars>_<43 chars>`: the key id, then a 256-bit secret
 * (base64url). Only the SHA-256 of the secret is stored; it is compared in constant time.
 */
import crypto from 'node:crypto';
import { AppError } from '../errors.js';
import { isId, newId } from '../ids.js';
import type { Store } from '../store/store.js';
import { findApiKey, insertApiKey, insertOrganization, touchApiKey } from '../store/tenants.js';

/** Who is calling: the org every query is scoped to, and the key used. */
export interface Principal {
  readonly orgId: string;
  readonly keyId: string;
}

export interface CreatedKey {
  readonly id: string;
  /** The full key; shown once, never stored. */
  readonly key: string;
}

const KEY_PATTERN = /^sb_(key_[0-9a-z]{26})_([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string): Buffer {
  return crypto.createHash('sha256').update(secret).digest();
}

/** Creates an API key for the org and returns the key once. */
export async function createApiKey(store: Store, orgId: string, name: string): Promise<CreatedKey> {
  const id = newId('key');
  const secret = crypto.randomBytes(32).toString('base64url');
  await insertApiKey(store.db, {
    id, org_id: orgId, name, secret_hash: hashSecret(secret).toString('hex'),
    created_at: new Date().toISOString(), last_used_at: null, revoked_at: null,
  });
  return { id, key: `sb_${id}_${secret}` };
}

/** Creates an organization with its first API key. */
export async function createOrganization(store: Store, name: string): Promise<{ orgId: string; apiKey: CreatedKey }> {
  const orgId = newId('org');
  await insertOrganization(store.db, { id: orgId, name, created_at: new Date().toISOString() });
  const apiKey = await createApiKey(store, orgId, 'first key');
  return { orgId, apiKey };
}

/** How often `last_used_at` is written for one key, ms (reads should not all write). */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Resolves a bearer key to its principal.
 *
 * @throws AppError `unauthenticated` for a missing, malformed, unknown or revoked key.
 */
export async function authenticate(store: Store, key: string | undefined): Promise<Principal> {
  const fail = () => new AppError('unauthenticated', key ? 'The API key is not valid.' : 'No API key was sent.');
  const m = key ? KEY_PATTERN.exec(key) : null;
  if (!m) throw fail();
  const [, id, secret] = m as unknown as [string, string, string];
  const row = isId('key', id) ? await findApiKey(store.db, id) : undefined;
  const expected = row ? Buffer.from(row.secret_hash, 'hex') : crypto.randomBytes(32);
  const ok = crypto.timingSafeEqual(expected, hashSecret(secret));
  if (!row || !ok || row.revoked_at) throw fail();
  const now = Date.now();
  if (!row.last_used_at || now - Date.parse(row.last_used_at) > TOUCH_INTERVAL_MS) {
    await touchApiKey(store.db, id, new Date(now).toISOString());
  }
  return { orgId: row.org_id, keyId: row.id };
}
