/**
 * Contacts created from the addresses a conversation meets, contact reads, and the
 * participant index behind the `with` / `with_domain` filters.
 */
import { sql, type Selectable } from 'kysely';
import type { EmailAddress } from '../domain/events.js';
import { newId } from '../ids.js';
import { chunks } from './chunks.js';
import type { ContactsTable } from './schema.js';
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
  for (const slice of chunks([...byAddress.keys()])) {
    const existing = await db.selectFrom('contact_addresses').select(['address', 'contact_id'])
      .where('org_id', '=', orgId).where('channel', '=', channel).where('address', 'in', slice).execute();
    for (const r of existing) ids.set(r.address, r.contact_id);
  }
  const missing = [...byAddress.values()].filter((a) => !ids.has(a.address));
  for (const slice of chunks(missing.map((a) => ({ id: newId('ct'), a })))) {
    await db.insertInto('contacts')
      .values(slice.map(({ id, a }) => ({ id, org_id: orgId, display_name: a.name, created_at: now, updated_at: now })))
      .execute();
    await db.insertInto('contact_addresses')
      .values(slice.map(({ id, a }) => ({ org_id: orgId, channel, address: a.address, contact_id: id })))
      .execute();
    for (const { id, a } of slice) ids.set(a.address, id);
  }
  return ids;
}

/** Adds addresses to a conversation's participants (repeats ignored). */
export async function addParticipants(
  db: Db, orgId: string, conversationId: string, addresses: readonly string[],
): Promise<void> {
  for (const slice of chunks([...new Set(addresses)])) {
    await db.insertInto('conversation_participants')
      .values(slice.map((address) => ({ conversation_id: conversationId, org_id: orgId, address, domain: domainOf(address) })))
      .onConflict((oc) => oc.columns(['conversation_id', 'address']).doNothing())
      .execute();
  }
}

export type ContactRow = Selectable<ContactsTable>;

/** One address of a contact on one channel. */
export interface ContactAddress {
  readonly channel: string;
  readonly address: string;
}

/** A contact of the org, or undefined (missing and foreign look the same). */
export async function findContact(db: Db, orgId: string, id: string): Promise<ContactRow | undefined> {
  return db.selectFrom('contacts').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

/** The addresses of some contacts, by contact id, each list ordered by channel and address. */
export async function addressesOf(db: Db, orgId: string, contactIds: readonly string[]): Promise<Map<string, ContactAddress[]>> {
  const out = new Map<string, ContactAddress[]>(contactIds.map((id) => [id, []]));
  if (contactIds.length === 0) return out;
  // Sorted here, not by `order by channel, address`: with that, SQLite (without statistics)
  // walked the primary key (org, channel, address) for its order, every address of the
  // organization (187 ms with 214,000 addresses), instead of the few of these contacts.
  const rows = await db.selectFrom('contact_addresses').select(['contact_id', 'channel', 'address'])
    .where('org_id', '=', orgId).where('contact_id', 'in', [...new Set(contactIds)]).execute();
  const byCode = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  rows.sort((a, b) => byCode(a.channel, b.channel) || byCode(a.address, b.address));
  for (const r of rows) out.get(r.contact_id)?.push({ channel: r.channel, address: r.address });
  return out;
}

/** The owners of some addresses on one channel: address → contact id. */
export async function ownersOf(db: Db, orgId: string, channel: string, addresses: readonly string[]): Promise<Map<string, string>> {
  if (addresses.length === 0) return new Map();
  const rows = await db.selectFrom('contact_addresses').select(['address', 'contact_id'])
    .where('org_id', '=', orgId).where('channel', '=', channel).where('address', 'in', [...addresses]).execute();
  return new Map(rows.map((r) => [r.address, r.contact_id]));
}

export interface ContactQuery {
  /** Case-insensitive text in the display name, company or an address. */
  readonly q?: string;
  /** Only the contact with this exact (lower-cased) address. */
  readonly address?: string;
  readonly limit: number;
  /** Keyset position: contacts with a greater id. */
  readonly afterId?: string;
}

/** `LIKE` pattern text with its wildcards escaped (escape character `\`). */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Contacts of the org in id (creation) order; up to `limit + 1` rows. */
export async function listContacts(db: Db, orgId: string, q: ContactQuery): Promise<ContactRow[]> {
  let query = db.selectFrom('contacts').selectAll().where('contacts.org_id', '=', orgId);
  if (q.address !== undefined) {
    const address = q.address;
    query = query.where((eb) => eb.exists(eb.selectFrom('contact_addresses as a').select('a.address')
      .whereRef('a.contact_id', '=', 'contacts.id').where('a.org_id', '=', orgId).where('a.address', '=', address)));
  }
  if (q.q) {
    const pattern = `%${likeLiteral(q.q.toLowerCase())}%`;
    const like = (column: 'display_name' | 'company') => sql<boolean>`lower(${sql.ref(`contacts.${column}`)}) like ${pattern} escape '\\'`;
    query = query.where((eb) => eb.or([
      like('display_name'),
      like('company'),
      eb.exists(eb.selectFrom('contact_addresses as a').select('a.address')
        .whereRef('a.contact_id', '=', 'contacts.id').where('a.org_id', '=', orgId)
        .where(sql<boolean>`a.address like ${pattern} escape '\\'`)),
    ]));
  }
  if (q.afterId) query = query.where('contacts.id', '>', q.afterId);
  return query.orderBy('contacts.id').limit(q.limit + 1).execute();
}
