/**
 * Identities (agents or team inboxes) and their channel accounts (mailboxes).
 */
import { sql, type Selectable } from 'kysely';
import type { ChannelAccountsTable, IdentitiesTable } from './schema.js';
import type { Db } from './store.js';

export type IdentityRow = Selectable<IdentitiesTable>;
export type AccountRow = Selectable<ChannelAccountsTable>;

export async function findIdentity(db: Db, orgId: string, id: string): Promise<IdentityRow | undefined> {
  return db.selectFrom('identities').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

export async function findIdentityByHandle(db: Db, orgId: string, handle: string): Promise<IdentityRow | undefined> {
  return db.selectFrom('identities').selectAll().where('org_id', '=', orgId).where('handle', '=', handle).executeTakeFirst();
}

/** Identities of the org in id (creation) order, keyset-paged after `afterId`. */
export async function listIdentities(db: Db, orgId: string, limit: number, afterId?: string): Promise<IdentityRow[]> {
  let q = db.selectFrom('identities').selectAll().where('org_id', '=', orgId);
  if (afterId) q = q.where('id', '>', afterId);
  return q.orderBy('id').limit(limit + 1).execute();
}

export async function findAccount(db: Db, orgId: string, id: string): Promise<AccountRow | undefined> {
  return db.selectFrom('channel_accounts').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

/** An account by id in any org: for provider webhooks, whose URL names the account and whose signature proves the caller. */
export async function findAccountById(db: Db, id: string): Promise<AccountRow | undefined> {
  return db.selectFrom('channel_accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Where mail for one recipient address goes (inbound routing, SMTP `RCPT TO` and `POST /v1/inbound/email`). */
export interface MailboxRoute {
  /** The mailbox that receives it. */
  readonly account: AccountRow;
  /** The recipient address as given, lower-cased. */
  readonly recipient: string;
  /** The `tag` of a plus-address (`local+tag@domain`), or null. */
  readonly tag: string | null;
}

/**
 * The mailbox that receives mail for `address`, in any organization (addresses are
 * compared lower-cased), in this order:
 *
 * 1. the mailbox with exactly that address (so a mailbox `support+vip@…` wins over
 *    plus-addressing);
 * 2. plus-addressing: for `local+tag@domain`, the mailbox `local@domain`, split at the
 *    first `+`; `tag` is the rest, lower-cased like the address (`a+b+c@…` → mailbox
 *    `a@…`, tag `b+c`; an empty tag is null);
 * 3. the catch-all of the domain: a mailbox whose address has exactly that domain and
 *    whose settings have `catch_all: true`, the oldest (by `created_at`, then id) when
 *    there are several, and only one of the organization that owns the domain here: the
 *    organization of the domain's oldest mailbox. So `x@example.com` never reaches a
 *    catch-all of another domain, nor another organization's catch-all on example.com.
 *    The tag is null (the recipient says what was addressed).
 *
 * Steps 1 and 2 are one query on the unique (channel, address) index; step 3, taken only
 * when neither matched, reads the email mailboxes of the domain (`address LIKE '%@domain'`).
 *
 * @returns null when no mailbox receives it (the SMTP listener then answers 550,
 *   `POST /v1/inbound/email` 422 unknown_recipient).
 */
export async function routeRecipient(db: Db, address: string): Promise<MailboxRoute | null> {
  const recipient = address.trim().toLowerCase();
  const at = recipient.lastIndexOf('@');
  if (at <= 0 || at === recipient.length - 1) {
    const account = await findAccountByAddress(db, 'email', recipient);
    return account ? { account, recipient, tag: null } : null;
  }
  const local = recipient.slice(0, at);
  const domain = recipient.slice(at + 1);
  const plus = local.indexOf('+');
  const base = plus > 0 ? `${local.slice(0, plus)}@${domain}` : null;
  const rows = await db.selectFrom('channel_accounts').selectAll()
    .where('channel', '=', 'email').where('address', 'in', base ? [recipient, base] : [recipient]).execute();
  const exact = rows.find((r) => r.address === recipient);
  if (exact) return { account: exact, recipient, tag: null };
  const tagged = base ? rows.find((r) => r.address === base) : undefined;
  if (tagged) return { account: tagged, recipient, tag: local.slice(plus + 1) || null };
  const catchAll = await findCatchAll(db, domain);
  return catchAll ? { account: catchAll, recipient, tag: null } : null;
}

/** The catch-all mailbox of a domain, as {@link routeRecipient} step 3 describes, or undefined. */
async function findCatchAll(db: Db, domain: string): Promise<AccountRow | undefined> {
  const pattern = `%@${domain.replace(/[\\%_]/g, (c) => `\\${c}`)}`;
  const rows = await db.selectFrom('channel_accounts').selectAll()
    .where('channel', '=', 'email')
    .where(sql<boolean>`${sql.ref('address')} like ${pattern} escape '\\'`)
    .orderBy('created_at').orderBy('id').execute();
  const ofDomain = rows.filter((r) => r.address.slice(r.address.lastIndexOf('@') + 1) === domain);
  const owner = ofDomain[0]?.org_id;
  return ofDomain.find((r) => r.org_id === owner && isCatchAll(r));
}

/** Whether a mailbox's settings (its `config` JSON, services/identities.ts `MailboxSettings`) have `catch_all: true`. */
function isCatchAll(row: AccountRow): boolean {
  try {
    return (JSON.parse(row.config) as { catch_all?: unknown }).catch_all === true;
  } catch {
    return false;
  }
}

/** The account that receives mail for an address, in any org (inbound routing). */
export async function findAccountByAddress(db: Db, channel: string, address: string): Promise<AccountRow | undefined> {
  return db.selectFrom('channel_accounts').selectAll()
    .where('channel', '=', channel).where('address', '=', address.toLowerCase()).executeTakeFirst();
}

/** Accounts of the org, optionally of one identity, in id order, keyset-paged. */
export async function listAccounts(
  db: Db, orgId: string, opts: { identityId?: string; channel?: string; limit: number; afterId?: string },
): Promise<AccountRow[]> {
  let q = db.selectFrom('channel_accounts').selectAll().where('org_id', '=', orgId);
  if (opts.identityId) q = q.where('identity_id', '=', opts.identityId);
  if (opts.channel) q = q.where('channel', '=', opts.channel);
  if (opts.afterId) q = q.where('id', '>', opts.afterId);
  return q.orderBy('id').limit(opts.limit + 1).execute();
}
