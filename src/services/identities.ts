/**
 * Identities and their email channel accounts (mailboxes).
 */
import { normalizeRoutingCode, RESERVED_KEYWORDS } from '../domain/router.js';
import { AppError, notFound } from '../errors.js';
import { newId } from '../ids.js';
import {
  findAccount, findAccountByAddress, findIdentity, findIdentityByHandle, type AccountRow, type IdentityRow,
} from '../store/identities.js';
import { searchIndexFor } from '../store/search.js';
import { inOrgTransaction } from '../store/sequences.js';
import { isUniqueViolation } from '../store/errors.js';
import type { Db, Store } from '../store/store.js';

/** SMTP relay a mailbox sends through (nodemailer SMTP transport options). */
export interface SmtpRelay {
  readonly host: string;
  readonly port: number;
  /** TLS from the start (port 465); otherwise STARTTLS when offered. */
  readonly secure: boolean;
  readonly user: string | null;
  readonly password: string | null;
}

/** What a mailbox does with mail that claims one of the organization's own addresses but fails DMARC alignment. */
export type InboundPolicy = 'accept' | 'flag' | 'reject';

/** A mailbox's settings besides its relay (docs/api.md, "Identities and mailboxes"). */
export interface MailboxSettings {
  /** `flag` (default): store with `spoofed: true`; `reject`: refuse (SMTP 550 5.7.1); `accept`: store unflagged. */
  readonly inbound_policy: InboundPolicy;
  /** Receives mail for every address of its domain that no mailbox has. */
  readonly catch_all: boolean;
  /** Auto-replies (`Auto-Submitted`, `X-Autoreply`, `Precedence: auto_reply`) cancel a no-reply timer as a reply does (default: they do not). */
  readonly auto_replies_stop_no_reply: boolean;
  /**
   * Send with a VERP return path (`local+bounce-<message id>@domain`, RFC 5321 MAIL FROM),
   * so a bounce names the message it returns even when it quotes nothing of it. For
   * relays that let the envelope sender differ from the login (default false).
   */
  readonly verp: boolean;
}

export const DEFAULT_MAILBOX_SETTINGS: MailboxSettings = { inbound_policy: 'flag', catch_all: false, auto_replies_stop_no_reply: false, verp: false };

/** The envelope sender (MAIL FROM) of a message a mailbox sends: its address, or its VERP address. */
export function returnPath(account: AccountRow, messageId: string): string {
  if (!mailboxConfig(account).verp) return account.address;
  const at = account.address.lastIndexOf('@');
  return `${account.address.slice(0, at)}+bounce-${messageId}${account.address.slice(at)}`;
}

export interface MailboxConfig extends MailboxSettings {
  /** null: the capture transport keeps outgoing mail in the store. */
  readonly smtp: SmtpRelay | null;
}

export function mailboxConfig(row: AccountRow): MailboxConfig {
  const parsed = JSON.parse(row.config) as Partial<MailboxConfig>;
  return { ...DEFAULT_MAILBOX_SETTINGS, ...parsed, smtp: parsed.smtp ?? null };
}

/** What an identity is made or changed with. */
export interface IdentityInput {
  readonly handle?: string;
  readonly display_name?: string | null;
  /** 2-32 letters or digits, any case (stored upper-case); null clears it. */
  readonly routing_code?: string | null;
}

/**
 * A routing code as stored: upper-case, or null.
 *
 * @throws AppError `validation_failed` (param `routing_code`) for a code that is not 2-32
 *   letters or digits, or that is a provider keyword (STOP, HELP, START, …).
 */
function routingCodeOf(input: string | null): string | null {
  if (input === null) return null;
  const code = normalizeRoutingCode(input);
  if (code === null) {
    throw new AppError('validation_failed', 'A routing code is 2 to 32 letters or digits.', { param: 'routing_code' });
  }
  if (RESERVED_KEYWORDS.includes(code)) {
    throw new AppError('validation_failed', `${code} is a keyword the SMS provider answers itself (${RESERVED_KEYWORDS.join(', ')}); it cannot be a routing code.`, {
      param: 'routing_code', fix: 'Choose another routing code.',
    });
  }
  return code;
}

/** Which unique constraint an identity write broke: the routing code (when another identity holds it) or the handle. */
async function uniqueConflict(db: Db, orgId: string, id: string, row: { handle: string; routing_code: string | null }): Promise<AppError> {
  if (row.routing_code !== null) {
    const holder = await db.selectFrom('identities').select('id')
      .where('org_id', '=', orgId).where('routing_code', '=', row.routing_code).where('id', '!=', id).executeTakeFirst();
    if (holder) {
      return new AppError('routing_code_in_use', `Another identity of the organization has the routing code ${row.routing_code}.`, { param: 'routing_code' });
    }
  }
  return new AppError('handle_in_use', `An identity with handle "${row.handle}" exists.`, { param: 'handle' });
}

/**
 * Creates an identity.
 *
 * @throws AppError `validation_failed` (a bad routing code), `handle_in_use`,
 *   `routing_code_in_use` (409).
 */
export async function createIdentity(
  store: Store, orgId: string, input: { handle: string; display_name?: string | null; routing_code?: string | null },
): Promise<IdentityRow> {
  const now = new Date().toISOString();
  const row: IdentityRow = {
    id: newId('idn'), org_id: orgId, handle: input.handle, display_name: input.display_name ?? null,
    routing_code: routingCodeOf(input.routing_code ?? null), created_at: now, updated_at: now,
  };
  try {
    await store.db.insertInto('identities').values(row).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw await uniqueConflict(store.db, orgId, row.id, row);
    throw err;
  }
  return row;
}

export async function getIdentity(db: Db, orgId: string, id: string): Promise<IdentityRow> {
  const row = await findIdentity(db, orgId, id);
  if (!row) throw notFound('identity');
  return row;
}

/**
 * Changes an identity's handle, display name or routing code (null clears the code).
 *
 * @throws AppError `not_found`, `validation_failed`, `handle_in_use`, `routing_code_in_use`.
 */
export async function updateIdentity(store: Store, orgId: string, id: string, patch: IdentityInput): Promise<IdentityRow> {
  const row = await getIdentity(store.db, orgId, id);
  const next: IdentityRow = {
    ...row,
    handle: patch.handle ?? row.handle,
    display_name: patch.display_name !== undefined ? patch.display_name : row.display_name,
    routing_code: patch.routing_code !== undefined ? routingCodeOf(patch.routing_code) : row.routing_code,
    updated_at: new Date().toISOString(),
  };
  try {
    await store.db.updateTable('identities')
      .set({ handle: next.handle, display_name: next.display_name, routing_code: next.routing_code, updated_at: next.updated_at })
      .where('org_id', '=', orgId).where('id', '=', id).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw await uniqueConflict(store.db, orgId, id, next);
    throw err;
  }
  return next;
}

/** Deletes an identity with its mailboxes, conversations, timelines, stored mail, contact rules, router connections and search index entries. */
export async function deleteIdentity(store: Store, orgId: string, id: string): Promise<void> {
  await getIdentity(store.db, orgId, id);
  // The org lock keeps a concurrent ingest from adding a conversation mid-delete.
  await inOrgTransaction(store, orgId, async (tx) => {
    const convs = tx.selectFrom('conversations').select('id').where('org_id', '=', orgId).where('identity_id', '=', id);
    const msgs = tx.selectFrom('messages').select('id').where('conversation_id', 'in', convs);
    await searchIndexFor(store.dialect).remove(tx, (await convs.execute()).map((c) => c.id));
    await tx.deleteFrom('media').where('message_id', 'in', msgs).execute();
    await tx.deleteFrom('raw_messages').where('message_id', 'in', msgs).execute();
    await tx.deleteFrom('messages').where('conversation_id', 'in', convs).execute();
    await tx.deleteFrom('events').where('conversation_id', 'in', convs).execute();
    await tx.deleteFrom('conversation_participants').where('conversation_id', 'in', convs).execute();
    await tx.deleteFrom('email_message_ids').where('org_id', '=', orgId).where('identity_id', '=', id).execute();
    // Router connections to this identity, and every connection on its shared lines.
    await tx.deleteFrom('connections').where('org_id', '=', orgId).where((eb) => eb.or([
      eb('identity_id', '=', id),
      eb('account_id', 'in', tx.selectFrom('channel_accounts').select('id').where('org_id', '=', orgId).where('identity_id', '=', id)),
    ])).execute();
    await tx.deleteFrom('conversations').where('org_id', '=', orgId).where('identity_id', '=', id).execute();
    await tx.deleteFrom('channel_accounts').where('org_id', '=', orgId).where('identity_id', '=', id).execute();
    await tx.deleteFrom('contact_rules').where('org_id', '=', orgId).where('identity_id', '=', id).execute();
    await tx.deleteFrom('identities').where('org_id', '=', orgId).where('id', '=', id).execute();
  });
}

export interface NewMailbox extends Partial<MailboxSettings> {
  readonly identity_id: string;
  readonly address: string;
  readonly display_name?: string | null;
  readonly smtp?: SmtpRelay | null;
}

/** The settings given in a create or patch body, without the fields left out. */
function givenSettings(input: Partial<MailboxSettings>): Partial<MailboxSettings> {
  const out: Partial<Record<keyof MailboxSettings, unknown>> = {};
  for (const key of Object.keys(DEFAULT_MAILBOX_SETTINGS) as (keyof MailboxSettings)[]) if (input[key] !== undefined) out[key] = input[key];
  return out as Partial<MailboxSettings>;
}

export async function createMailbox(store: Store, orgId: string, input: NewMailbox): Promise<AccountRow> {
  await getIdentity(store.db, orgId, input.identity_id).catch(() => {
    throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
  });
  const now = new Date().toISOString();
  const row: AccountRow = {
    id: newId('acct'), org_id: orgId, identity_id: input.identity_id, channel: 'email',
    address: input.address.trim().toLowerCase(), display_name: input.display_name ?? null, status: 'active',
    config: JSON.stringify({ ...DEFAULT_MAILBOX_SETTINGS, ...givenSettings(input), smtp: input.smtp ?? null } satisfies MailboxConfig),
    last_sent_at: null, status_reason: null, status_at: null, pool: 0, created_at: now, updated_at: now,
  };
  try {
    await store.db.insertInto('channel_accounts').values(row).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('address_in_use', `${row.address} is already a mailbox.`, { param: 'address' });
    throw err;
  }
  return row;
}

export async function getMailbox(db: Db, orgId: string, id: string): Promise<AccountRow> {
  const row = await findAccount(db, orgId, id);
  if (!row || row.channel !== 'email') throw notFound('mailbox');
  return row;
}

export async function updateMailbox(
  store: Store, orgId: string, id: string, patch: { display_name?: string | null; smtp?: SmtpRelay | null } & Partial<MailboxSettings>,
): Promise<AccountRow> {
  const row = await getMailbox(store.db, orgId, id);
  const config: MailboxConfig = { ...mailboxConfig(row), ...givenSettings(patch), ...(patch.smtp !== undefined ? { smtp: patch.smtp } : {}) };
  const next: AccountRow = {
    ...row,
    display_name: patch.display_name !== undefined ? patch.display_name : row.display_name,
    config: JSON.stringify(config),
    updated_at: new Date().toISOString(),
  };
  await store.db.updateTable('channel_accounts')
    .set({ display_name: next.display_name, config: next.config, updated_at: next.updated_at })
    .where('org_id', '=', orgId).where('id', '=', id).execute();
  return next;
}

/** Removes a mailbox; its conversations stay readable (replies then need another mailbox). */
export async function deleteMailbox(store: Store, orgId: string, id: string): Promise<void> {
  await getMailbox(store.db, orgId, id);
  await store.db.deleteFrom('channel_accounts').where('org_id', '=', orgId).where('id', '=', id).execute();
}

/**
 * The mailbox for `address` in the org, creating the identity (handle = the address)
 * and the mailbox when absent. Used by `switchboard import`.
 *
 * @throws AppError `address_in_use` when another org owns the address.
 */
export async function ensureMailbox(store: Store, orgId: string, address: string): Promise<AccountRow> {
  const normalized = address.trim().toLowerCase();
  const existing = await findAccountByAddress(store.db, 'email', normalized);
  if (existing) {
    if (existing.org_id !== orgId) throw new AppError('address_in_use', `${normalized} belongs to another organization.`);
    return existing;
  }
  const identity = (await findIdentityByHandle(store.db, orgId, normalized))
    ?? (await createIdentity(store, orgId, { handle: normalized, display_name: null }));
  return createMailbox(store, orgId, { identity_id: identity.id, address: normalized });
}
