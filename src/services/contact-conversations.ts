/**
 * `POST /v1/contacts/{id}/conversations` (seed 003, "Open a conversation for a
 * contact"): open a conversation between an identity and a contact on any channel before
 * anything is sent, so an agent can then reply by conversation id (the first send goes
 * to the contact's address; on email with the subject given here).
 */
import type { Transaction } from 'kysely';
import { isoNow, systemClock, type Clock } from '../clock.js';
import { canonicalAddress } from '../domain/addresses.js';
import { CHANNELS, type Channel } from '../domain/events.js';
import { AppError, notFound } from '../errors.js';
import { addParticipants, addressesOf, findContact, type ContactAddress } from '../store/contacts.js';
import { createConversation } from '../store/conversations.js';
import { findIdentity, listAccounts, type AccountRow } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import type { ConversationRow } from '../store/timeline.js';
import { assertRecipientsAllowed } from './contact-rules.js';
import { findChannelConversation } from './ingest-channel.js';

export interface OpenConversationInput {
  readonly contactId: string;
  readonly identityId: string;
  /** The channel; by default the first of {@link CHANNELS} on which the contact has an address (`address`, when given). */
  readonly channel?: Channel;
  /** One of the contact's addresses; by default its first on the channel (alphabetically). */
  readonly address?: string;
  /** The subject of the first message (email only); null or omitted: none. */
  readonly subject?: string | null;
}

/**
 * The channel and address to open on, from the contact's addresses (pure).
 *
 * @throws AppError `validation_failed` (param `address`: not one of the contact's on the
 *   channel), `no_recipient` (the contact has no address on the channel, or none at all).
 */
export function pickAddress(addresses: readonly ContactAddress[], input: Pick<OpenConversationInput, 'channel' | 'address'>): { channel: Channel; address: string } {
  const on = (channel: Channel) => addresses.filter((a) => a.channel === channel).map((a) => a.address);
  const channels = input.channel ? [input.channel] : CHANNELS;
  if (input.address !== undefined) {
    for (const channel of channels) {
      const address = canonicalAddress(channel, input.address) ?? input.address.trim();
      if (on(channel).includes(address)) return { channel, address };
    }
    const mine = addresses.filter((a) => !input.channel || a.channel === input.channel).map((a) => a.address);
    throw new AppError('validation_failed', `${input.address} is not ${input.channel ? `a ${input.channel}` : 'an'} address of this contact.`, {
      param: 'address', fix: `Use one of the contact's addresses (${mine.join(', ') || 'it has none'}), or leave address out.`,
    });
  }
  for (const channel of channels) {
    const first = on(channel)[0];
    if (first !== undefined) return { channel, address: first };
  }
  throw new AppError('no_recipient', input.channel ? `The contact has no ${input.channel} address.` : 'The contact has no address.', {
    fix: `Add ${input.channel ? `a ${input.channel}` : 'an'} address to the contact (PATCH /v1/contacts/{id} with \`addresses\`) first.`,
  });
}

/**
 * The account a new conversation on `channel` sends from: the identity's first mailbox,
 * or its first own (not shared) account on the channel (a shared line's people are
 * routed by code, services/router.ts).
 *
 * @throws AppError `no_sender` (param `identity_id`).
 */
async function openingAccount(tx: Transaction<Database>, orgId: string, identityId: string, channel: Channel): Promise<AccountRow> {
  const account = channel === 'email'
    ? (await listAccounts(tx, orgId, { identityId, channel: 'email', limit: 1 }))[0]
    : await tx.selectFrom('channel_accounts').selectAll()
      .where('org_id', '=', orgId).where('identity_id', '=', identityId).where('channel', '=', channel).where('pool', '=', 0)
      .orderBy('id').limit(1).executeTakeFirst();
  if (account) return account;
  throw new AppError('no_sender', channel === 'email' ? 'The identity has no mailbox to send from.' : `The identity has no ${channel} account to send from.`, {
    param: 'identity_id',
    fix: channel === 'email' ? 'Add a mailbox to the identity (POST /v1/mailboxes) first.' : `Add a ${channel} account to the identity (POST /v1/channel_accounts) first.`,
  });
}

/**
 * The identity's conversation with the contact's address on the channel, or a new one
 * without events. On email: the open (not archived, not blocked) one, else a new one
 * from the identity's first mailbox. On the other channels one person is one
 * conversation per account: the one with the identity's first own account on the channel.
 *
 * @returns the conversation and whether it was created.
 * @throws AppError `not_found` (contact, or identity with param `identity_id`),
 *   `validation_failed` (param `address`: not one of the contact's; param `subject` on a
 *   channel without subjects), `no_recipient` (the contact has no address on the channel),
 *   `recipient_blocked`, `no_sender` (the identity has no account on the channel).
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
    const { channel, address } = pickAddress((await addressesOf(tx, orgId, [contact.id])).get(contact.id) ?? [], input);
    if (channel !== 'email' && input.subject != null) {
      throw new AppError('validation_failed', `A ${channel} conversation has no subject.`, { param: 'subject', fix: 'Leave subject out (it is for email only).' });
    }
    await assertRecipientsAllowed(tx, orgId, input.identityId, [{ address, param: input.address !== undefined ? 'address' : undefined }]);

    if (channel === 'email') {
      const existing = await tx.selectFrom('conversations').selectAll()
        .where('org_id', '=', orgId).where('merged_into', 'is', null).where('identity_id', '=', input.identityId).where('channel', '=', 'email')
        .where('counterpart', '=', address).where('archived', '=', 0).where('is_blocked', '=', 0)
        .orderBy('last_event_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
      if (existing) return { row: existing, created: false };
    }
    const account = await openingAccount(tx, orgId, input.identityId, channel);
    if (channel !== 'email') {
      // Where the person's messages through this account go (services/ingest-channel.ts).
      const existing = await findChannelConversation(tx, account, input.identityId, address);
      if (existing) return { row: existing, created: false };
    }
    const row = await createConversation(tx, {
      orgId, identityId: input.identityId, accountId: account.id, channel, subject: channel === 'email' ? input.subject ?? null : null,
      counterpart: address, contactId: contact.id, at: isoNow(clock),
    });
    await addParticipants(tx, orgId, row.id, [address]);
    return { row, created: true };
  });
}
