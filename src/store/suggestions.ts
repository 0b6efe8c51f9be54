/**
 * Suggestions (AI-drafted replies) and the training pairs their sends leave. Every query
 * is scoped by organization; lists are keyset-paged by id (ids sort by creation time).
 */
import type { Insertable, Selectable, Updateable } from 'kysely';
import type { SuggestionStatus } from '../domain/suggestion.js';
import type { SuggestionsTable, TrainingPairsTable } from './schema.js';
import type { Db } from './store.js';

export type SuggestionRow = Selectable<SuggestionsTable>;
export type TrainingPairRow = Selectable<TrainingPairsTable>;

export async function insertSuggestion(db: Db, row: Insertable<SuggestionsTable>): Promise<void> {
  await db.insertInto('suggestions').values(row).execute();
}

/** A suggestion of one conversation, or undefined (another conversation's or org's is missing too). */
export async function findSuggestion(db: Db, orgId: string, conversationId: string, id: string): Promise<SuggestionRow | undefined> {
  return db.selectFrom('suggestions').selectAll()
    .where('org_id', '=', orgId).where('conversation_id', '=', conversationId).where('id', '=', id)
    .executeTakeFirst();
}

/** Writes `patch` to a suggestion. */
export async function updateSuggestion(db: Db, orgId: string, id: string, patch: Updateable<SuggestionsTable>): Promise<void> {
  await db.updateTable('suggestions').set(patch).where('org_id', '=', orgId).where('id', '=', id).execute();
}

export interface SuggestionListQuery {
  readonly orgId: string;
  readonly conversationId: string;
  /** Only suggestions in this status (a stale `sending` claim counts as `pending`). */
  readonly status?: SuggestionStatus;
  /** `sending` claims updated before this instant (RFC 3339) count as `pending`. */
  readonly staleClaimsBefore: string;
  readonly limit: number;
  /** Keyset position: suggestions with a smaller id (newest first). */
  readonly beforeId?: string;
}

/** A conversation's suggestions, newest first: at most `limit` rows (ask for one more to learn whether more follow). */
export async function listSuggestions(db: Db, q: SuggestionListQuery): Promise<SuggestionRow[]> {
  let query = db.selectFrom('suggestions').selectAll()
    .where('org_id', '=', q.orgId).where('conversation_id', '=', q.conversationId);
  const stale = q.staleClaimsBefore;
  if (q.status === 'pending') {
    query = query.where((eb) => eb.or([
      eb('status', '=', 'pending'),
      eb.and([eb('status', '=', 'sending'), eb('updated_at', '<', stale)]),
    ]));
  } else if (q.status === 'sending') {
    query = query.where('status', '=', 'sending').where('updated_at', '>=', stale);
  } else if (q.status !== undefined) {
    query = query.where('status', '=', q.status);
  }
  if (q.beforeId !== undefined) query = query.where('id', '<', q.beforeId);
  return query.orderBy('id', 'desc').limit(q.limit).execute();
}

/** The newest suggestion of a conversation that is pending (a stale `sending` claim included), if any. */
export async function newestPendingSuggestion(db: Db, orgId: string, conversationId: string, staleClaimsBefore: string): Promise<SuggestionRow | undefined> {
  const [row] = await listSuggestions(db, { orgId, conversationId, status: 'pending', staleClaimsBefore, limit: 1 });
  return row;
}

export async function insertTrainingPair(db: Db, row: Insertable<TrainingPairsTable>): Promise<void> {
  await db.insertInto('training_pairs').values(row).execute();
}

export interface TrainingPairQuery {
  readonly orgId: string;
  /** Only pairs of this identity's conversations that are not blocked (an identity-scoped key's view). */
  readonly identityId?: string;
  readonly conversationId?: string;
  /** Only pairs recorded at or after this instant (RFC 3339). */
  readonly since?: string;
  readonly limit: number;
  /** Keyset position: pairs with a greater id (oldest first). */
  readonly afterId?: string;
}

/** Training pairs, oldest first: at most `limit` rows (ask for one more to learn whether more follow). */
export async function listTrainingPairs(db: Db, q: TrainingPairQuery): Promise<TrainingPairRow[]> {
  let query = db.selectFrom('training_pairs').selectAll('training_pairs').where('training_pairs.org_id', '=', q.orgId);
  if (q.identityId !== undefined) {
    const identityId = q.identityId;
    query = query.where(({ exists, selectFrom }) => exists(
      selectFrom('conversations').select('conversations.id')
        .whereRef('conversations.id', '=', 'training_pairs.conversation_id')
        .where('conversations.org_id', '=', q.orgId)
        .where('conversations.identity_id', '=', identityId)
        .where('conversations.is_blocked', '=', 0),
    ));
  }
  if (q.conversationId !== undefined) query = query.where('training_pairs.conversation_id', '=', q.conversationId);
  if (q.since !== undefined) query = query.where('training_pairs.created_at', '>=', q.since);
  if (q.afterId !== undefined) query = query.where('training_pairs.id', '>', q.afterId);
  return query.orderBy('training_pairs.id', 'asc').limit(q.limit).execute();
}
