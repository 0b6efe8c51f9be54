/**
 * Authentication of a bearer key (SPEC section 2, "API key"), with the key rows kept in
 * memory between requests.
 *
 * A key's row (its secret's hash, revocation, grant) and its member's role change only
 * in transactions that take the organization's write lock (services/members.ts: issue,
 * revocation, member changes and removal), which
 * bump the organization's state version (store/sequences.ts). A remembered row is
 * therefore used only while the version it was read under is still the current one,
 * read for this request ({@link OrgVersions}): a key revoked, or a member demoted, on
 * any node stops counting at once. What a request saves is the key's row; the version
 * read it shares with the other requests of its organization in flight.
 */
import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { AppError } from '../errors.js';
import { isId } from '../ids.js';
import type { OrgVersions } from '../store/org-versions.js';
import type { Store } from '../store/store.js';
import { findApiKey, touchApiKey, type ApiKeyRow } from '../store/tenants.js';
import { effectivePermissions, parsePermissions, type Principal, type Role } from './access.js';
import { hashSecret, KEY_PATTERN } from './tenants.js';

/** How often `last_used_at` is written for one key, ms (reads should not all write). */
const TOUCH_INTERVAL_MS = 60_000;
/** Key rows remembered (least recently used ones are dropped first). */
const REMEMBERED_KEYS = 10_000;

interface Remembered {
  readonly row: ApiKeyRow & { role: string | null };
  /** The organization's version the row was read under. */
  readonly version: number;
  /** When `last_used_at` was last written (or read), ms since the epoch; 0 for never. */
  touchedAt: number;
}

export class Authenticator {
  readonly #store: Store;
  readonly #versions: OrgVersions;
  readonly #keys = new LRUCache<string, Remembered>({ max: REMEMBERED_KEYS });

  constructor(store: Store, versions: OrgVersions) {
    this.#store = store;
    this.#versions = versions;
  }

  /**
   * Resolves a bearer key to its principal, with the organization's current state
   * version (`Principal.orgVersion`, for the read cache).
   *
   * @param key the key's text (`sb_key_…_…`), or undefined when none was sent.
   * @throws AppError `unauthenticated` for a missing, malformed, unknown or revoked key.
   */
  async authenticate(key: string | undefined): Promise<Principal> {
    const fail = () => new AppError('unauthenticated', key ? 'The API key is not valid.' : 'No API key was sent.');
    const m = key ? KEY_PATTERN.exec(key) : null;
    if (!m) throw fail();
    const [, id, secret] = m as unknown as [string, string, string];
    let known = this.#keys.get(id);
    if (known && known.version !== await this.#versions.current(known.row.org_id)) known = undefined;
    if (!known) known = await this.#read(id);
    const expected = known ? Buffer.from(known.row.secret_hash, 'hex') : crypto.randomBytes(32);
    const ok = crypto.timingSafeEqual(expected, hashSecret(secret));
    if (!known || !ok || known.row.revoked_at) throw fail();
    const { row } = known;
    const now = Date.now();
    if (now - known.touchedAt > TOUCH_INTERVAL_MS) {
      known.touchedAt = now;
      await touchApiKey(this.#store.db, id, new Date(now).toISOString());
    }
    const role = (row.role ?? null) as Role | null;
    return {
      orgId: row.org_id, keyId: row.id, memberId: row.member_id, role, identityId: row.identity_id,
      permissions: effectivePermissions(parsePermissions(row.permissions), role, row.identity_id !== null),
      orgVersion: known.version,
    };
  }

  /** Reads a key's row with its organization's version (one query) and remembers it. */
  async #read(id: string): Promise<Remembered | undefined> {
    const found = isId('key', id) ? await findApiKey(this.#store.db, id) : undefined;
    if (!found) return undefined;
    const { org_version: version, ...row } = found;
    const known = { row, version: Number(version ?? 0), touchedAt: (row.last_used_at && Date.parse(row.last_used_at)) || 0 };
    this.#keys.set(id, known);
    return known;
  }
}
