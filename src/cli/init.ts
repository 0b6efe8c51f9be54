/**
 * `switchboard init`: sets a store up, once. On an empty store it creates an
 * organization, its first API key (printed once) and its owner member; on a store that
 * has an organization it prints that organization and creates nothing (but a missing
 * owner member), unless `--new-organization` asks for another one.
 *
 * `--json` prints one object: `{"org_id", "name", "created", "owner_member_id",
 * "organizations": [{"id", "name"}]}`, with `"api_key"` when an organization was created.
 */
import { storeLocation, type Config } from '../config.js';
import { setUpOrganization, type SetUp } from '../services/organization-setup.js';
import { openStore } from '../store/open.js';
import { describeOrganizations } from './organizations.js';

export interface InitOptions {
  /** The name of an organization created now. */
  readonly name: string;
  /** The owner member's email, when the owner is created. */
  readonly ownerEmail?: string;
  /** Create an organization even when the store has some. */
  readonly newOrganization?: boolean;
  readonly json?: boolean;
}

/**
 * Runs `init` on the configured store and prints the result on stdout.
 *
 * @throws Error when the store cannot be opened; AppError `email_in_use` (see setUpOrganization).
 */
export async function runInit(config: Config, o: InitOptions): Promise<void> {
  const store = await openStore(config);
  try {
    const setUp = await setUpOrganization(store, { name: o.name, ownerEmail: o.ownerEmail, newOrganization: o.newOrganization });
    process.stdout.write(o.json ? `${JSON.stringify(initJson(setUp))}\n` : initText(setUp, storeLocation(config)));
  } finally {
    await store.close();
  }
}

function initJson(s: SetUp) {
  return {
    org_id: s.organization.id,
    name: s.organization.name,
    ...(s.apiKey ? { api_key: s.apiKey.key } : {}),
    created: s.apiKey !== null,
    owner_member_id: s.owner.id,
    organizations: s.organizations.map((o) => ({ id: o.id, name: o.name })),
  };
}

function initText(s: SetUp, where: string): string {
  const org = s.organization;
  const owner = `${s.ownerCreated ? 'Owner member created' : 'Owner member'}: ${s.owner.id} (${s.owner.email}).\n`;
  if (s.apiKey) {
    return `Organization ${org.id} created in ${where}.\nAPI key (shown once, keep it safe):\n\n  ${s.apiKey.key}\n\n${owner}`;
  }
  const others = s.organizations.length > 1
    ? `The store has ${s.organizations.length} organizations:\n${describeOrganizations(s.organizations)}\nThe first is `
    : 'The store already has ';
  return `${others}organization ${org.id} (${org.name}) in ${where}; no organization created.\n${owner}`
    + `A lost API key is replaced by a new one: switchboard keys create --org ${org.id}\n`
    + 'Another organization: switchboard init --new-organization\n';
}
