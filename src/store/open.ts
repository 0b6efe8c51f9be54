/**
 * Picks and opens the store for a configuration: PostgreSQL when `databaseUrl` is set,
 * else the embedded SQLite file under `dataDir`.
 */
import type { Config } from '../config.js';
import { openPostgresStore } from './postgres/postgres-store.js';
import { openSqliteStore, sqliteFile } from './sqlite/sqlite-store.js';
import type { OpenOptions, Store } from './store.js';

/**
 * Opens the configured store and migrates it to the latest schema.
 *
 * @throws Error when the store cannot be opened or migrated.
 */
export async function openStore(
  config: Pick<Config, 'dataDir'> & Partial<Pick<Config, 'databaseUrl' | 'databasePoolSize' | 'databasePreparedStatements'>>, options: OpenOptions = {},
): Promise<Store> {
  if (config.databaseUrl) return openPostgresStore({
    url: config.databaseUrl, poolSize: config.databasePoolSize, preparedStatements: config.databasePreparedStatements,
  }, options);
  return openSqliteStore({ filename: sqliteFile(config.dataDir) }, options);
}
