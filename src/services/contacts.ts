/**
 * Contacts (SPEC section 2): external people with their addresses per channel and a
 * profile (company, position, headline, avatar URL, custom attributes). Contacts are
 * also created on their own from the addresses mail meets (store/contacts.ts
 * `ensureContacts`); an address belongs to at most one contact of the organization.
 *
 * Conversations point at the contact of their counterpart: when an address moves to a
 * contact, or leaves one, its conversations follow in the same transaction.
 */
import type { Transaction } from 'kysely';
import { ADDRESS_FORMS, canonicalAddress } from '../domain/addresses.js';
import type { Channel } from '../domain/events.js';
import { AppError, notFound } from '../errors.js';
import { newId } from '../ids.js';
import { addressesOf, findContact, ownersOf, type ContactAddress, type ContactRow } from '../store/contacts.js';
import type { Database } from '../store/schema.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Db, Store } from '../store/store.js';

/** A custom attribute value. */
export type AttributeValue = string | number | boolean | null;

/** The profile fields; omitted ones are left as they are (or null on create). */
export interface ContactProfile {
  readonly display_name?: string | null;
  readonly company?: string | null;
  readonly position?: string | null;
  readonly headline?: string | null;
  /** An http(s) URL. */
  readonly avatar_url?: string | null;
  /** Replaces the whole attribute object. */
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

export interface ContactInput extends ContactProfile {
  /** The full address set (any channel); on update it replaces the current one. */
  readonly addresses?: readonly ContactAddress[];
}

/** A contact with its addresses. */
export interface ContactRecord {
  readonly row: ContactRow;
  readonly addresses: readonly ContactAddress[];
}

const PROFILE_FIELDS = ['display_name', 'company', 'position', 'headline', 'avatar_url'] as const;

/**
 * Addresses in their channel's canonical form (domain/addresses.ts: emails lower-cased,
 * phone numbers E.164, provider ids trimmed), repeats dropped.
 *
 * @throws AppError `validation_failed` (param `addresses.<i>.address`) for an address that
 *   is not one on its channel.
 */
function normalizeAddresses(addresses: readonly ContactAddress[]): ContactAddress[] {
  const seen = new Set<string>();
  const out: ContactAddress[] = [];
  for (const [i, a] of addresses.entries()) {
    const channel = a.channel as Channel;
    const address = canonicalAddress(channel, a.address);
    if (address === null) {
      throw new AppError('validation_failed', `"${a.address}" is not an address on the ${channel} channel.`, {
        param: `addresses.${i}.address`, fix: `Send ${ADDRESS_FORMS[channel]} for a ${channel} address.`,
      });
    }
    const key = `${a.channel}\u0000${address}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ channel: a.channel, address });
  }
  return out;
}

/**
 * Makes `wanted` the contact's address set and points the conversations of added and
 * removed counterparts at it (or at nobody).
 *
 * @throws AppError `address_in_use` when another contact of the org has one of them.
 */
async function setAddresses(
  tx: Transaction<Database>, orgId: string, contactId: string, wanted: readonly ContactAddress[],
): Promise<void> {
  const current = (await addressesOf(tx, orgId, [contactId])).get(contactId) ?? [];
  const key = (a: ContactAddress) => `${a.channel}\u0000${a.address}`;
  const wantedKeys = new Set(wanted.map(key));
  const currentKeys = new Set(current.map(key));
  const added = wanted.filter((a) => !currentKeys.has(key(a)));
  const removed = current.filter((a) => !wantedKeys.has(key(a)));
  for (const channel of new Set(added.map((a) => a.channel))) {
    const owners = await ownersOf(tx, orgId, channel, added.filter((a) => a.channel === channel).map((a) => a.address));
    const taken = [...owners.keys()][0];
    if (taken !== undefined) {
      throw new AppError('address_in_use', `Another contact (${owners.get(taken)}) has the address ${taken}.`, {
        param: 'addresses',
        fix: `Remove ${taken} from contact ${owners.get(taken)} first (PATCH /v1/contacts/${owners.get(taken)}), or delete that contact.`,
      });
    }
  }
  for (const a of removed) {
    await tx.deleteFrom('contact_addresses')
      .where('org_id', '=', orgId).where('channel', '=', a.channel).where('address', '=', a.address).execute();
  }
  if (added.length > 0) {
    await tx.insertInto('contact_addresses')
      .values(added.map((a) => ({ org_id: orgId, channel: a.channel, address: a.address, contact_id: contactId })))
      .execute();
  }
  await relinkConversations(tx, orgId, added, contactId);
  await relinkConversations(tx, orgId, removed, null, contactId);
}

/**
 * Points the conversations whose counterpart is one of `addresses` at `contactId`
 * (only those pointing at `from`, when given). The counterpart is always a participant,
 * so the participant index finds them.
 */
async function relinkConversations(
  tx: Transaction<Database>, orgId: string, addresses: readonly ContactAddress[], contactId: string | null, from?: string,
): Promise<void> {
  for (const channel of new Set(addresses.map((a) => a.channel))) {
    const list = addresses.filter((a) => a.channel === channel).map((a) => a.address);
    let q = tx.updateTable('conversations').set({ contact_id: contactId })
      .where('org_id', '=', orgId).where('channel', '=', channel).where('counterpart', 'in', list)
      .where('id', 'in', tx.selectFrom('conversation_participants').select('conversation_id')
        .where('org_id', '=', orgId).where('address', 'in', list));
    if (from !== undefined) q = q.where('contact_id', '=', from);
    await q.execute();
  }
}

function profileColumns(p: ContactProfile): Partial<ContactRow> {
  const out: Partial<Record<keyof ContactRow, unknown>> = {};
  for (const f of PROFILE_FIELDS) if (p[f] !== undefined) out[f] = p[f];
  if (p.attributes !== undefined) out.attributes = JSON.stringify(p.attributes);
  return out as Partial<ContactRow>;
}

/**
 * A contact of the org with its addresses.
 *
 * @throws AppError `not_found`.
 */
export async function getContact(db: Db, orgId: string, id: string): Promise<ContactRecord> {
  const record = await findContactRecord(db, orgId, id);
  if (!record) throw notFound('contact');
  return record;
}

/** A contact of the org with its addresses, or null (missing and foreign look the same). */
export async function findContactRecord(db: Db, orgId: string, id: string): Promise<ContactRecord | null> {
  const row = await findContact(db, orgId, id);
  return row ? { row, addresses: (await addressesOf(db, orgId, [id])).get(id) ?? [] } : null;
}

/**
 * Creates a contact.
 *
 * @throws AppError `address_in_use` (another contact has one of the addresses).
 */
export async function createContact(store: Store, orgId: string, input: ContactInput): Promise<ContactRecord> {
  const now = new Date().toISOString();
  const row: ContactRow = {
    id: newId('ct'), org_id: orgId, display_name: null, company: null, position: null, headline: null, avatar_url: null,
    attributes: '{}', created_at: now, updated_at: now, ...profileColumns(input),
  };
  const addresses = normalizeAddresses(input.addresses ?? []);
  // The org lock orders this with mail creating contacts for the same addresses.
  await inOrgTransaction(store, orgId, async (tx) => {
    await tx.insertInto('contacts').values(row).execute();
    await setAddresses(tx, orgId, row.id, addresses);
  });
  return getContact(store.db, orgId, row.id);
}

/**
 * Changes a contact's profile and, when `addresses` is given, replaces its address set.
 *
 * @throws AppError `not_found`, `address_in_use`.
 */
export async function updateContact(store: Store, orgId: string, id: string, patch: ContactInput): Promise<ContactRecord> {
  await inOrgTransaction(store, orgId, async (tx) => {
    if (!(await findContact(tx, orgId, id))) throw notFound('contact');
    await tx.updateTable('contacts').set({ ...profileColumns(patch), updated_at: new Date().toISOString() })
      .where('org_id', '=', orgId).where('id', '=', id).execute();
    if (patch.addresses !== undefined) await setAddresses(tx, orgId, id, normalizeAddresses(patch.addresses));
  });
  return getContact(store.db, orgId, id);
}

/**
 * Deletes a contact and frees its addresses; its conversations stay, without a contact.
 * Mail from one of the addresses later creates a new contact.
 *
 * @throws AppError `not_found`.
 */
export async function deleteContact(store: Store, orgId: string, id: string): Promise<void> {
  await inOrgTransaction(store, orgId, async (tx) => {
    if (!(await findContact(tx, orgId, id))) throw notFound('contact');
    await tx.deleteFrom('contact_addresses').where('org_id', '=', orgId).where('contact_id', '=', id).execute();
    await tx.updateTable('conversations').set({ contact_id: null }).where('org_id', '=', orgId).where('contact_id', '=', id).execute();
    await tx.deleteFrom('contacts').where('org_id', '=', orgId).where('id', '=', id).execute();
  });
}
