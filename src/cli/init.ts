/**
 * `switchboard init`: a new organization and its first API key, printed once.
 */
import { storeLocation, type Config } from '../config.js';
import { createOrganization } from '../services/tenants.js';
import { openStore } from '../store/open.js';

export async function runInit(config: Config, o: { name: string; json?: boolean }): Promise<void> {
  const store = await openStore(config);
  try {
    const { orgId, apiKey } = await createOrganization(store, o.name);
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ org_id: orgId, api_key: apiKey.key })}\n`);
    } else {
      process.stdout.write(`Organization ${orgId} created in ${storeLocation(config)}.\nAPI key (shown once, keep it safe):\n\n  ${apiKey.key}\n\n`);
    }
  } finally {
    await store.close();
  }
}
