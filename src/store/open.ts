/**
 * Picks and opens the store for a configuration.
 */
import type { Config } from '../config.js';
import { openSqliteStore, sqliteFile } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

/** Opens the embedded SQLite store under `config.dataDir`. */
export async function openStore(config: Pick<Config, 'dataDir'>): Promise<Store> {
  return openSqliteStore({ filename: sqliteFile(config.dataDir) });
}
