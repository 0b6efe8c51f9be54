/**
 * Where uploaded media bytes live (SPEC section 4, media): one small interface, and its
 * implementation on local disk under the data directory. The `media` row keeps the key
 * (`storage_key`); the bytes never go through the database.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** A blob store keyed by safe relative names (`org_…/med_…`). */
export interface MediaStorage {
  /** Stores `bytes` under `key`, durably (on disk, synced) before it resolves; replaces what was there. */
  put(key: string, bytes: Buffer): Promise<void>;
  /** The bytes under `key`, or null when there are none. */
  get(key: string): Promise<Buffer | null>;
  /** Removes `key`; a missing key is not an error. */
  delete(key: string): Promise<void>;
}

/** Keys are one or more `/`-separated segments of letters, digits, `_` and `-`: nothing that climbs out of the root. */
const KEY = /^[A-Za-z0-9_-]{1,200}(\/[A-Za-z0-9_-]{1,200}){0,3}$/;

/**
 * Whether `key` is a valid storage key.
 */
export function isStorageKey(key: string): boolean {
  return KEY.test(key);
}

/** The storage key of an uploaded media item. */
export function mediaKey(orgId: string, mediaId: string): string {
  return `${orgId}/${mediaId}`;
}

/**
 * Media on local disk: `<root>/<key>`. A put writes a temporary file next to the target,
 * fsyncs it, renames it into place and fsyncs the directory, so a key that resolved is
 * complete on disk after a crash, and a reader never sees a half-written file.
 */
export class DiskMediaStorage implements MediaStorage {
  readonly #root: string;

  /** @param root the directory (created when missing), e.g. `<dataDir>/media`. */
  constructor(root: string) {
    this.#root = path.resolve(root);
  }

  /** @throws Error for a key that is not {@link isStorageKey}. */
  #path(key: string): string {
    if (!isStorageKey(key)) throw new Error(`invalid media storage key: ${JSON.stringify(key)}`);
    return path.join(this.#root, ...key.split('/'));
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    const target = this.#path(key);
    const dir = path.dirname(target);
    await fs.mkdir(dir, { recursive: true });
    const temp = path.join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const file = await fs.open(temp, 'wx', 0o600);
    try {
      await file.writeFile(bytes);
      await file.sync();
    } catch (err) {
      await file.close();
      await fs.rm(temp, { force: true });
      throw err;
    }
    await file.close();
    await fs.rename(temp, target);
    const d = await fs.open(dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await fs.readFile(this.#path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.#path(key), { force: true });
  }
}
