/**
 * Identities (agents or team inboxes) and their channel accounts (mailboxes).
 */
import type { Selectable } from 'kysely';
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
