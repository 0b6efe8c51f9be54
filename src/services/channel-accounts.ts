/**
 * Channel accounts other than mailboxes (SPEC section 2): an identity's phone number on
 * an SMS provider, its iMessage line on a BlueBubbles server, its LinkedIn or other
 * account behind the generic HTTP channel. Each has a health `status` that adapters
 * update and sends check. Provider settings (`config`) are kept as given; secrets in
 * them are never shown again (api/presenters.ts `channelAccountView`).
 */
import { isoNow, systemClock, type Clock } from '../clock.js';
import type { AccountHealth } from '../channels/adapter.js';
import { canonicalAddress } from '../domain/addresses.js';
import type { Channel } from '../domain/events.js';
import { AppError, notFound } from '../errors.js';
import { newId } from '../ids.js';
import { isUniqueViolation } from '../store/errors.js';
import { findAccount, type AccountRow } from '../store/identities.js';
import type { Store } from '../store/store.js';
import { getIdentity } from './identities.js';

/** The channels of this module (email accounts are mailboxes: services/identities.ts). */
export type AccountChannel = Exclude<Channel, 'email'>;

export interface NewChannelAccount {
  readonly identity_id: string;
  readonly channel: AccountChannel;
  readonly address: string;
  readonly display_name?: string | null;
  /** A shared line whose people are routed to identities by code. */
  readonly pool?: boolean;
  readonly status?: AccountHealth;
  /** Provider settings (credentials, base URL, outbound URL, …), per channel. */
  readonly config?: Record<string, unknown>;
}

export interface ChannelAccountPatch {
  readonly display_name?: string | null;
  readonly status?: AccountHealth;
  readonly config?: Record<string, unknown>;
  readonly pool?: boolean;
}

/** The account's provider settings (its `config` JSON). */
export function accountConfig<T extends Record<string, unknown> = Record<string, unknown>>(row: AccountRow): Partial<T> {
  return JSON.parse(row.config) as Partial<T>;
}

function address(channel: AccountChannel, input: string): string {
  const canonical = canonicalAddress(channel, input);
  if (!canonical) {
    throw new AppError('validation_failed', `"${input}" is not an address on the ${channel} channel${channel === 'sms' ? ' (an E.164 phone number, like +14155550100)' : ''}.`, { param: 'address' });
  }
  return canonical;
}

/**
 * Creates a channel account for an identity.
 *
 * @throws AppError `not_found` (identity), `validation_failed` (address), `address_in_use`.
 */
export async function createChannelAccount(store: Store, orgId: string, input: NewChannelAccount, clock: Clock = systemClock): Promise<AccountRow> {
  await getIdentity(store.db, orgId, input.identity_id).catch(() => {
    throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
  });
  const now = isoNow(clock);
  const row: AccountRow = {
    id: newId('acct'), org_id: orgId, identity_id: input.identity_id, channel: input.channel,
    address: address(input.channel, input.address), display_name: input.display_name ?? null,
    status: input.status ?? 'active', status_reason: null, status_at: now, pool: input.pool ? 1 : 0,
    config: JSON.stringify(input.config ?? {}), last_sent_at: null, created_at: now, updated_at: now,
  };
  try {
    await store.db.insertInto('channel_accounts').values(row).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('address_in_use', `${row.address} is already a ${row.channel} account.`, { param: 'address' });
    throw err;
  }
  return row;
}

/**
 * A non-email account of the org.
 *
 * @throws AppError `not_found`.
 */
export async function getChannelAccount(db: Store['db'], orgId: string, id: string): Promise<AccountRow> {
  const row = await findAccount(db, orgId, id);
  if (!row || row.channel === 'email') throw notFound('channel account');
  return row;
}

/**
 * Changes an account; a new `status` clears `status_reason` (set by adapters only).
 *
 * @throws AppError `not_found`.
 */
export async function updateChannelAccount(store: Store, orgId: string, id: string, patch: ChannelAccountPatch, clock: Clock = systemClock): Promise<AccountRow> {
  const row = await getChannelAccount(store.db, orgId, id);
  const now = isoNow(clock);
  const changes: Partial<AccountRow> = { updated_at: now };
  if (patch.display_name !== undefined) changes.display_name = patch.display_name;
  if (patch.pool !== undefined) changes.pool = patch.pool ? 1 : 0;
  if (patch.config !== undefined) changes.config = JSON.stringify({ ...accountConfig(row), ...patch.config });
  if (patch.status !== undefined && patch.status !== row.status) Object.assign(changes, { status: patch.status, status_reason: null, status_at: now });
  await store.db.updateTable('channel_accounts').set(changes).where('org_id', '=', orgId).where('id', '=', id).execute();
  return { ...row, ...changes };
}

/**
 * Records what an adapter learned about an account's health (a provider's 401, an
 * unreachable bridge, a success after an error). No write when nothing changes.
 */
export async function setAccountHealth(store: Store, account: AccountRow, status: AccountHealth, reason: string | null, clock: Clock = systemClock): Promise<void> {
  if (account.status === status && account.status_reason === reason) return;
  const now = isoNow(clock);
  await store.db.updateTable('channel_accounts').set({ status, status_reason: reason, status_at: now, updated_at: now })
    .where('id', '=', account.id).execute();
}
