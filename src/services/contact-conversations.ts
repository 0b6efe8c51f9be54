/**
 * `POST /v1/contacts/{id}/conversations`: open an email conversation between an
 * identity and a contact before anything is sent, so an agent can then reply by
 * conversation id (the first send goes to the contact's address with the subject given
 * here).
 */
import { isoNow, systemClock, type Clock } from '../clock.js';
import { AppError, notFound } from '../errors.js';
import { addParticipants, addressesOf, findContact } from '../store/contacts.js';
import { createConversation } from '../store/conversations.js';
import { findIdentity, listAccounts } from '../store/identities.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import type { ConversationRow } from '../store/timeline.js';
import { assertRecipientsAllowed } from './contact-rules.js';

export interface OpenConversationInput {
  readonly contactId: string;
  readonly identityId: string;
  /** One of the contact's email addresses; by default the first (alphabetically). */
  readonly address?: string;
  /** The subject of the first message; null or omitted: none. */
  readonly subject?: string | null;
}

/**
 * The identity's open (not archived, not blocked) email conversation with the contact's
 * address, or a new one without events, sending from the identity's first mailbox.
 *
 * @returns the conversation and whether it was created.
 * @throws AppError `not_found` (contact, or identity with param `identity_id`),
 *   `validation_failed` (param `address`: not one of the contact's), `no_recipient`
 *   (the contact has no email address), `recipient_blocked`, `no_sender` (the identity
 *   has no mailbox).
 */
export async function openContactConversation(
  store: Store, orgId: string, input: OpenConversationInput, clock: Clock = systemClock,
): Promise<{ row: ConversationRow; created: boolean }> {
  return inOrgTransaction(store, orgId, async (tx) => {
    const contact = await findContact(tx, orgId, input.contactId);
    if (!contact) throw notFound('contact');
    if (!(await findIdentity(tx, orgId, input.identityId))) {
      throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
    }
    const emails = ((await addressesOf(tx, orgId, [contact.id])).get(contact.id) ?? [])
      .filter((a) => a.channel === 'email').map((a) => a.address);
    let address: string;
    if (input.address !== undefined) {
      address = input.address.trim().toLowerCase();
      if (!emails.includes(address)) {
        throw new AppError('validation_failed', `${address} is not an email address of this contact.`, {
          param: 'address', fix: `Use one of the contact's addresses (${emails.join(', ') || 'it has none'}), or leave address out.`,
        });
      }
    } else {
      const first = emails[0];
      if (first === undefined) throw new AppError('no_recipient', 'The contact has no email address.');
      address = first;
    }
    await assertRecipientsAllowed(tx, orgId, input.identityId, [{ address, param: input.address !== undefined ? 'address' : undefined }]);

    const existing = await tx.selectFrom('conversations').selectAll()
      .where('org_id', '=', orgId).where('merged_into', 'is', null).where('identity_id', '=', input.identityId).where('channel', '=', 'email')
      .where('counterpart', '=', address).where('archived', '=', 0).where('is_blocked', '=', 0)
      .orderBy('last_event_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
    if (existing) return { row: existing, created: false };

    const [account] = await listAccounts(tx, orgId, { identityId: input.identityId, channel: 'email', limit: 1 });
    if (!account) throw new AppError('no_sender', 'The identity has no mailbox to send from.', { param: 'identity_id' });
    const row = await createConversation(tx, {
      orgId, identityId: input.identityId, accountId: account.id, channel: 'email', subject: input.subject ?? null,
      counterpart: address, contactId: contact.id, at: isoNow(clock),
    });
    await addParticipants(tx, orgId, row.id, [address]);
    return { row, created: true };
  });
}
