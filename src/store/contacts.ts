/**
 * Contacts created from the addresses a conversation meets, and the participant
 * index behind the `with` / `with_domain` filters.
 */
import type { EmailAddress } from '../domain/events.js';
import { newId } from '../ids.js';
import type { Db } from './store.js';

/** The domain of an address (after the last `@`), lower-cased. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1).toLowerCase();
}

/**
 * Ensures a contact exists for each address (one contact per new address, named after
 * the first display name seen) and returns the contact id per address.
 */
export async function ensureContacts(
  db: Db, orgId: string, channel: string, addresses: readonly EmailAddress[], now: string,
): Promise<Map<string, string>> {
  const byAddress = new Map<string, EmailAddress>();
  for (const a of addresses) if (!byAddress.has(a.address)) byAddress.set(a.address, a);
  const ids = new Map<string, string>();
  if (byAddress.size === 0) return ids;
  const existing = await db.selectFrom('contact_addresses').select(['address', 'contact_id'])
    .where('org_id', '=', orgId).where('channel', '=', channel)
    .where('address', 'in', [...byAddress.keys()])
    .execute();
  for (const r of existing) ids.set(r.address, r.contact_id);
  const missing = [...byAddress.values()].filter((a) => !ids.has(a.address));
  if (missing.length > 0) {
    const created = missing.map((a) => ({ id: newId('ct'), a }));
    await db.insertInto('contacts')
      .values(created.map(({ id, a }) => ({ id, org_id: orgId, display_name: a.name, created_at: now, updated_at: now })))
      .execute();
    await db.insertInto('contact_addresses')
      .values(created.map(({ id, a }) => ({ org_id: orgId, channel, address: a.address, contact_id: id })))
      .execute();
    for (const { id, a } of created) ids.set(a.address, id);
  }
  return ids;
}

/** Adds addresses to a conversation's participants (repeats ignored). */
export async function addParticipants(
  db: Db, orgId: string, conversationId: string, addresses: readonly string[],
): Promise<void> {
  const unique = [...new Set(addresses)];
  if (unique.length === 0) return;
  await db.insertInto('conversation_participants')
    .values(unique.map((address) => ({ conversation_id: conversationId, org_id: orgId, address, domain: domainOf(address) })))
    .onConflict((oc) => oc.columns(['conversation_id', 'address']).doNothing())
    .execute();
}
