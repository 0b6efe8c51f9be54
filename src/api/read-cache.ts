/**
 * A cache of read answers (serialized list pages, view counts) per organization, kept
 * exact by the organization's state version (store/sequences.ts): every lookup first
 * reads the version (store/org-versions.ts: a read started after the lookup began) and an entry counts only while the version
 * it was computed under is still current. Any commit that took the org's write lock, on
 * this node, another node or another process on the same SQLite file, bumps the
 * version, so no answer outlives a write. Nothing is shared between organizations:
 * keys are prefixed with the org id, and callers put everything else the answer depends
 * on (the resolved filter, the page position) into the key.
 *
 * An answer is kept only for a key asked for before (a "doorkeeper", as in TinyLFU's
 * admission policy): a key seen once, such as a sync poll's ever-new `since` or a random
 * deep cursor, is computed and answered but not stored, so a stream of one-off requests
 * neither evicts the hot pages nor fills the heap with bytes nobody reads again (the
 * inbox benchmark's cache-miss case did both; docs/benchmarks.md). The second request
 * for a key stores its answer; after a write, a key seen before is stored at once.
 */
import { LRUCache } from 'lru-cache';
import type { OrgVersions } from '../store/org-versions.js';

/** A cached value: a serialized answer (Buffer) or a small object. */
type Value = Buffer | object;

interface Entry {
  readonly version: number;
  readonly value: Value;
}

/** Bytes counted for an object value (counts are a few numbers). */
const OBJECT_BYTES = 64;
/** Bytes counted per entry beyond its value (key, version, LRU links). */
const ENTRY_OVERHEAD_BYTES = 200;
/** Keys remembered as asked for (the doorkeeper), most recent first. */
const SEEN_KEYS = 20_000;

export class ReadCache {
  readonly #versions: OrgVersions;
  readonly #lru: LRUCache<string, Entry> | null;
  /** Keys asked for before: only their answers are stored. */
  readonly #seen = new LRUCache<string, true>({ max: SEEN_KEYS });
  /** Computations under way, by key and version: concurrent misses share one. */
  readonly #pending = new Map<string, Promise<Value>>();

  /**
   * @param maxBytes the cache's size bound, bytes; 0 turns caching off (every lookup computes).
   */
  constructor(versions: OrgVersions, maxBytes: number) {
    this.#versions = versions;
    this.#lru = maxBytes > 0
      ? new LRUCache<string, Entry>({
        maxSize: maxBytes,
        sizeCalculation: (e, key) => ENTRY_OVERHEAD_BYTES + 2 * key.length
          + (Buffer.isBuffer(e.value) ? e.value.length : OBJECT_BYTES),
      })
      : null;
  }

  /**
   * The value of `key` for `orgId` as of now: cached when nothing committed for the org
   * since it was computed, else `compute()`d (once for concurrent callers) and kept if
   * the key was asked for before.
   *
   * @param compute reads the store; called after the version was read, so what it
   *   returns is at least as new as the version it is filed under.
   * @param knownVersion the org's version when the caller read it earlier in this request
   *   (with its API key: `Principal.orgVersion`); read here when absent.
   * @throws whatever `compute` throws (nothing is kept).
   */
  async get<T extends Value>(orgId: string, key: string, compute: () => Promise<T>, knownVersion?: number): Promise<T> {
    if (!this.#lru) return compute();
    const version = knownVersion ?? await this.#versions.current(orgId);
    const id = `${orgId}\n${key}`;
    const hit = this.#lru.get(id);
    if (hit && hit.version === version) return hit.value as T;
    const pendingId = `${version}\n${id}`;
    const pending = this.#pending.get(pendingId);
    if (pending) return pending as Promise<T>;
    const computing = compute().then((value) => {
      if (!hit && !this.#seen.has(id)) {
        this.#seen.set(id, true); // a first request: answered, not stored
        return value;
      }
      const current = this.#lru!.get(id);
      if (!current || current.version <= version) this.#lru!.set(id, { version, value });
      return value;
    }).finally(() => this.#pending.delete(pendingId));
    this.#pending.set(pendingId, computing);
    return computing;
  }
}
