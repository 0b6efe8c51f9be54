/**
 * `switchboard keys create | list | revoke`: API keys managed on the store directly (the
 * operator's authority, services/operator-keys.ts), so that a lost key is replaced
 * without a key to call the API with.
 *
 * `keys create --json` prints `{"id", "key", "name", "org_id", "member_id",
 * "identity_id", "permissions", "created_at"}`; `keys list --json` prints
 * `{"org_id", "data": [...]}` with the API's key fields (never a secret); `keys revoke
 * --json` prints the revoked key.
 */
import { isoNow, systemClock } from '../clock.js';
import type { Config } from '../config.js';
import { isId } from '../ids.js';
import { parsePermissions } from '../services/access.js';
import { revokeKey } from '../services/members.js';
import { issueOperatorKey } from '../services/operator-keys.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { findApiKey, listApiKeys, type ApiKeyRow } from '../store/tenants.js';
import { apiKeyView } from '../api/presenters.js';
import { pickOrganization } from './organizations.js';

export interface KeysCreateOptions {
  readonly name: string;
  readonly org?: string;
  /** Member id or email. */
  readonly member?: string;
  /** Identity id or handle. */
  readonly identity?: string;
  readonly permissions?: readonly string[];
  readonly json?: boolean;
}

async function withStore<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** The organization of `--org`, or the store's only one. @throws Error when there is none to pick. */
async function orgOf(store: Store, wanted: string | undefined): Promise<string> {
  const org = await pickOrganization(store.db, wanted);
  if (!org) throw new Error('the store has no organization yet: run `switchboard init` first');
  return org.id;
}

/**
 * Issues a key and prints it (its secret is shown this once).
 *
 * @throws Error when no organization can be picked; AppError from issueOperatorKey
 *   (unknown permission, not a member, unknown identity, a permission the key cannot hold).
 */
export async function runKeysCreate(config: Config, o: KeysCreateOptions): Promise<void> {
  await withStore(config, async (store) => {
    const orgId = await orgOf(store, o.org);
    const { key, row } = await issueOperatorKey(store, orgId, {
      name: o.name, member: o.member ?? null, identity: o.identity ?? null, permissions: o.permissions ?? null,
    });
    if (o.json) {
      const { id, name, member_id, identity_id, permissions, created_at } = apiKeyView(row);
      process.stdout.write(`${JSON.stringify({ id, key: key.key, name, org_id: orgId, member_id, identity_id, permissions, created_at })}\n`);
      return;
    }
    const grant = [
      row.member_id ? `acting as ${row.member_id}` : null,
      row.identity_id ? `seeing only ${row.identity_id}` : 'org-wide',
      `permissions: ${parsePermissions(row.permissions)?.join(', ') ?? 'all'}`,
    ].filter(Boolean).join('; ');
    process.stdout.write(`API key ${row.id} "${row.name}" of organization ${orgId} (${grant}).\n`
      + `Shown once, keep it safe:\n\n  ${key.key}\n\nRevoke it with: switchboard keys revoke ${row.id}\n`);
  });
}

/** Prints the organization's keys, revoked ones too, oldest first (never a secret). */
export async function runKeysList(config: Config, o: { org?: string; json?: boolean }): Promise<void> {
  await withStore(config, async (store) => {
    const orgId = await orgOf(store, o.org);
    const rows: ApiKeyRow[] = [];
    const PAGE = 200;
    for (;;) {
      const page = await listApiKeys(store.db, orgId, PAGE, rows.at(-1)?.id);
      rows.push(...page.slice(0, PAGE));
      if (page.length <= PAGE) break;
    }
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ org_id: orgId, data: rows.map(apiKeyView) })}\n`);
      return;
    }
    const lines = rows.map((r) => [
      r.id, r.name, `created ${r.created_at}`, r.last_used_at ? `last used ${r.last_used_at}` : 'never used',
      r.revoked_at ? `REVOKED ${r.revoked_at}` : 'active',
      r.member_id ? `member ${r.member_id}` : null, r.identity_id ? `identity ${r.identity_id}` : null,
      r.permissions ? `permissions ${parsePermissions(r.permissions)!.join(',')}` : null,
    ].filter(Boolean).join('  '));
    process.stdout.write(`${rows.length} API key(s) of organization ${orgId}:\n${lines.map((l) => `  ${l}\n`).join('')}`);
  });
}

/**
 * Revokes a key (it stops working at once, on every node); revoking it again changes nothing.
 *
 * @throws Error when no key has that id (in `--org`, when given).
 */
export async function runKeysRevoke(config: Config, id: string, o: { org?: string; json?: boolean }): Promise<void> {
  await withStore(config, async (store) => {
    const found = isId('key', id) ? await findApiKey(store.db, id) : undefined;
    if (!found || (o.org && found.org_id !== o.org)) throw new Error(`no API key ${id} in this store${o.org ? ` for organization ${o.org}` : ''}`);
    const row = await revokeKey(store, found.org_id, id, isoNow(systemClock));
    process.stdout.write(o.json ? `${JSON.stringify(apiKeyView(row))}\n` : `API key ${row.id} "${row.name}" revoked (${row.revoked_at}).\n`);
  });
}
