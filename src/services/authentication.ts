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
import { findApiKey, touchApiKey } from '../store/tenants.js';
import { effectivePermissions, parsePermissions, type Principal, type Role } from './access.js';
import { hashSecret, KEY_PATTERN } from './tenants.js';

/** How often `last_used_at` is written for one key, ms (reads should not all write). */
const TOUCH_INTERVAL_MS = 60_000;
/** Key rows remembered (least recently used ones are dropped first). */
const REMEMBERED_KEYS = 10_000;

interface Remembered {
  /** The secret's SHA-256, as stored. */
  readonly secretHash: Buffer;
  readonly revoked: boolean;
  /** What the key may do, worked out once from the row (its `orgVersion` is the version it was read under). */
  readonly principal: Principal & { readonly orgVersion: number };
  /** When `last_used_at` was last written (or read), ms since the epoch; 0 for never. */
  touchedAt: number;
}

/** A key as presented: its id, and the SHA-256 of its secret. */
interface PresentedKey {
  readonly id: string;
  readonly secretHash: Buffer;
}

/** The key's id and its secret's hash, or null for text that is not a key. */
function parseKey(key: string | undefined): PresentedKey | null {
  const m = key ? KEY_PATTERN.exec(key) : null;
  if (!m) return null;
  const [, id, secret] = m as unknown as [string, string, string];
  return { id, secretHash: hashSecret(secret) };
}

const unauthenticated = (key: string | undefined) => new AppError('unauthenticated', key ? 'The API key is not valid.' : 'No API key was sent.');

export class Authenticator {
  readonly #store: Store;
  readonly #versions: OrgVersions;
  readonly #keys = new LRUCache<string, Remembered>({ max: REMEMBERED_KEYS });
  /** Key rows being read now, by key id. */
  readonly #reads = new Map<string, Promise<Remembered | undefined>>();

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
  authenticate(key: string | undefined): Promise<Principal> {
    return this.recheck(key)();
  }

  /**
   * A check of `key` to run again and again for as long as a request lasts (the live
   * stream re-checks its key before each batch of events, api/routes/event-stream.ts): each
   * call is {@link authenticate} as of that moment (a revoked key, a demoted member or a
   * narrowed scope is seen at once), but the key's text is parsed and its secret hashed
   * once, when the check is made, rather than on every call. The secret's hash of a key id
   * never changes (a key is issued once, services/tenants.ts), so comparing the stored hash
   * with the one made here is the same test.
   *
   * @returns a function resolving to the key's principal now.
   * @throws (the returned function) AppError `unauthenticated` as {@link authenticate}.
   */
  recheck(key: string | undefined): () => Promise<Principal> {
    const presented = parseKey(key);
    if (!presented) return () => Promise.reject(unauthenticated(key));
    return () => this.#check(presented, key);
  }

  async #check({ id, secretHash }: PresentedKey, key: string | undefined): Promise<Principal> {
    let known = this.#keys.get(id);
    if (known) {
      const version = await this.#versions.current(known.principal.orgId);
      // Another call may have read the row again meanwhile.
      known = this.#keys.get(id);
      if (!known || known.principal.orgVersion < version) known = await this.#readAtLeast(id, version);
    } else {
      known = await this.#read(id);
    }
    const ok = crypto.timingSafeEqual(known?.secretHash ?? crypto.randomBytes(32), secretHash);
    if (!known || !ok || known.revoked) throw unauthenticated(key);
    const now = Date.now();
    if (now - known.touchedAt > TOUCH_INTERVAL_MS) {
      known.touchedAt = now;
      await touchApiKey(this.#store.db, id, new Date(now).toISOString());
    }
    return known.principal;
  }

  /**
   * The key's row as of `version` or later: a read of it already running is shared when
   * what it read is that recent (its version is read in the same query as the row, so the
   * row then holds every change up to `version`), else the row is read again. Every open
   * event stream of a key re-authenticates after each commit of its organization, and
   * every commit bumps the version: a thousand streams share one read instead of a
   * thousand (docs/benchmarks.md, live stream latency).
   */
  async #readAtLeast(id: string, version: number): Promise<Remembered | undefined> {
    const running = this.#reads.get(id);
    if (running) {
      const shared = await running;
      if (!shared || shared.principal.orgVersion >= version) return shared;
    }
    return this.#read(id);
  }

  /** Reads a key's row with its organization's version (one query, shared while it runs: {@link #readAtLeast}). */
  #read(id: string): Promise<Remembered | undefined> {
    const read = this.#readRow(id).finally(() => {
      if (this.#reads.get(id) === read) this.#reads.delete(id);
    });
    this.#reads.set(id, read);
    return read;
  }

  /** Reads a key's row with its organization's version (one query) and remembers what it grants. */
  async #readRow(id: string): Promise<Remembered | undefined> {
    const row = isId('key', id) ? await findApiKey(this.#store.db, id) : undefined;
    if (!row) return undefined;
    const role = (row.role ?? null) as Role | null;
    // A key acting as a member limited to one identity sees only it. services/members.ts
    // keeps the two from differing (a key scoped elsewhere is refused at issue and revoked
    // when the member is narrowed); should they differ all the same, the key counts as revoked.
    const identityId = row.identity_id ?? row.member_identity_id ?? null;
    const conflicting = row.identity_id != null && row.member_identity_id != null && row.identity_id !== row.member_identity_id;
    const known: Remembered = {
      secretHash: Buffer.from(row.secret_hash, 'hex'),
      revoked: row.revoked_at !== null || conflicting,
      principal: {
        orgId: row.org_id, keyId: row.id, memberId: row.member_id, role, identityId,
        permissions: effectivePermissions(parsePermissions(row.permissions), role, identityId !== null),
        orgVersion: Number(row.org_version ?? 0),
      },
      touchedAt: (row.last_used_at && Date.parse(row.last_used_at)) || 0,
    };
    this.#keys.set(id, known);
    return known;
  }
}
