/**
 * Which organization a command works on: the one named by `--org`, or the store's only
 * one. When that cannot be decided the error lists the organizations, so the next
 * command can be typed from it.
 */
import type { Db } from '../store/store.js';
import { listOrganizations, type OrganizationRow } from '../store/tenants.js';

/** One line per organization: `  org_… name`. */
export function describeOrganizations(orgs: readonly OrganizationRow[]): string {
  return orgs.map((o) => `  ${o.id}  ${o.name}`).join('\n');
}

/**
 * The organization `wanted` names, or the store's only one when it names none.
 *
 * @returns the organization, or null when the store has none (and none was named).
 * @throws Error when `wanted` is not an organization of the store, or when it is omitted
 *   and the store has several; the message lists them.
 */
export async function pickOrganization(db: Db, wanted: string | undefined): Promise<OrganizationRow | null> {
  const orgs = await listOrganizations(db);
  if (wanted) {
    const org = orgs.find((o) => o.id === wanted);
    if (org) return org;
    throw new Error(orgs.length > 0
      ? `no organization ${wanted} in this store; pass --org with one of:\n${describeOrganizations(orgs)}`
      : `no organization ${wanted} in this store; it has none (run \`switchboard init\`)`);
  }
  if (orgs.length > 1) throw new Error(`the store has ${orgs.length} organizations: pass --org with one of:\n${describeOrganizations(orgs)}`);
  return orgs[0] ?? null;
}
