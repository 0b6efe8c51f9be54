/**
 * Identity scope (SPEC section 2, "API key"): a key scoped to one identity sees that
 * identity's conversations and nothing of the others. Asking for another identity by id
 * in a query or body is a 403 `forbidden_identity`; another identity's resource is a
 * 404, like a missing one. Conversations whose sender a contact rule blocks are never
 * visible to a scoped key.
 */
import { AppError, notFound } from '../errors.js';
import { isId } from '../ids.js';
import type { Principal } from '../services/access.js';
import { findConversation } from '../store/conversations.js';
import type { Db } from '../store/store.js';
import type { ConversationRow } from '../store/timeline.js';

/**
 * The identity a query is limited to: the key's own when it is scoped, else the one asked for.
 *
 * @throws AppError `forbidden_identity` when a scoped key asks for another identity.
 */
export function identityScope(p: Principal, requested: string | undefined, param = 'identity_id'): string | undefined {
  if (p.identityId === null) return requested;
  if (requested !== undefined && requested !== p.identityId) {
    throw new AppError('forbidden_identity', `This key is scoped to identity ${p.identityId} and cannot act for ${requested}.`, { param });
  }
  return p.identityId;
}

/** Whether a conversation is visible to the principal (its org is checked by the query). */
export function canSee(p: Principal, row: Pick<ConversationRow, 'identity_id' | 'is_blocked'>): boolean {
  return p.identityId === null || (row.identity_id === p.identityId && row.is_blocked === 0);
}

/**
 * A conversation the principal may see.
 *
 * @throws AppError `not_found` for a malformed, missing, foreign or invisible id alike.
 */
export async function visibleConversation(db: Db, p: Principal, id: string): Promise<ConversationRow> {
  const row = isId('conv', id) ? await findConversation(db, p.orgId, id) : undefined;
  if (!row || !canSee(p, row)) throw notFound('conversation');
  return row;
}
