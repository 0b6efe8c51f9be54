/**
 * `switchboard migrate`: brings the configured store's schema up to date and says what it
 * applied. `serve` migrates on start too; run this first when several nodes share one
 * PostgreSQL database, so that no node starts on an old schema.
 */
import { storeLocation, type Config } from '../config.js';
import { openStore } from '../store/open.js';

export async function runMigrate(config: Config, o: { json?: boolean }): Promise<void> {
  const store = await openStore(config, { migrate: false });
  try {
    const applied = await store.migrate();
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ store: store.dialect, applied })}\n`);
    } else {
      const where = storeLocation(config);
      process.stdout.write(applied.length
        ? `Applied ${applied.length} migration(s) to ${where}: ${applied.join(', ')}.\n`
        : `${where}: the schema is up to date.\n`);
    }
  } finally {
    await store.close();
  }
}
