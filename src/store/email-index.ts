/**
 * The per-identity Message-ID index behind email threading and dedup.
 */
import type { IndexedId } from '../domain/threading.js';
import type { Db } from './store.js';

/** What the index knows of `ids` for one identity. */
export async function lookupMessageIds(
  db: Db, orgId: string, identityId: string, ids: readonly string[],
): Promise<Map<string, IndexedId>> {
  const known = new Map<string, IndexedId>();
  if (ids.length === 0) return known;
  const rows = await db.selectFrom('email_message_ids')
    .select(['message_id', 'conversation_id', 'stored'])
    .where('org_id', '=', orgId).where('identity_id', '=', identityId)
    .where('message_id', 'in', [...ids])
    .execute();
  for (const r of rows) known.set(r.message_id, { conversationId: r.conversation_id, stored: r.stored === 1 });
  return known;
}

/**
 * Records index rows: new ids are inserted; an id known as a ghost becomes stored
 * (keeping its conversation); a stored id is never moved.
 */
export async function recordMessageIds(
  db: Db, orgId: string, identityId: string,
  rows: readonly { readonly id: string; readonly stored: boolean; readonly conversationId: string }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.insertInto('email_message_ids')
    .values(rows.map((r) => ({
      org_id: orgId, identity_id: identityId, message_id: r.id, conversation_id: r.conversationId, stored: r.stored ? 1 : 0,
    })))
    .onConflict((oc) => oc.columns(['org_id', 'identity_id', 'message_id'])
      .doUpdateSet({ stored: 1 })
      .where('excluded.stored', '=', 1))
    .execute();
}
