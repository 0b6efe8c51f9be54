/**
 * Merging conversations that turned out to be one (threading found a message linking
 * them, or a person merged them): the older one survives and absorbs the others.
 *
 * Events are never rewritten: a merged conversation keeps its events, gets a last one,
 * `merged` (naming the survivor), and its row stays with `merged_into` set, out of every
 * list and count. The survivor's timeline is its own events and those of the
 * conversations merged into it (`timelineIds` in store/conversations.ts), and its summary
 * is what a fold of that timeline gives (domain/projection.ts `foldTimeline`: each half
 * folded on its own, joined by `combineSummaries` at the `merged` event), written in the
 * same transaction. What hangs off a conversation by id (messages, the Message-ID index,
 * suggestions, training pairs, router connections, provider message ids, participants,
 * the search index) moves to the survivor, so lookups by those never see the merged id.
 */
import type { Transaction } from 'kysely';
import type { Actor, MergedData } from '../domain/events.js';
import { combineSummaries } from '../domain/projection.js';
import type { Database } from './schema.js';
import { searchDocuments, searchIndexOf } from './search.js';
import { appendEvents, eventFromRow, summaryOf, writeSummary, type ConversationRow } from './timeline.js';

/** Tables whose rows belong to one conversation by `conversation_id` and move with a merge. */
const MOVED_TABLES = ['messages', 'email_message_ids', 'suggestions', 'training_pairs', 'connections', 'provider_message_ids'] as const;

/** Survivor first: the oldest conversation (created first; the smaller id on a tie). */
export function byAge(a: Pick<ConversationRow, 'created_at' | 'id'>, b: Pick<ConversationRow, 'created_at' | 'id'>): number {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export interface MergeOptions {
  readonly reason: MergedData['reason'];
  /** Who merged them (manual merges); null for threading. */
  readonly by: Actor | null;
  /** RFC 3339: the `merged` events' time. */
  readonly at: string;
}

/**
 * Merges live conversations of one organization into the oldest of them, inside `tx`,
 * which must hold the organization's write lock (`inOrgTransaction`) from before the
 * rows were read.
 *
 * @param rows two or more distinct live (`merged_into` null) conversations, as read in `tx`.
 * @returns the survivor's row after the merge.
 * @throws Error when a row is merged already or the rows span organizations (a caller bug).
 */
export async function mergeConversations(
  tx: Transaction<Database>, rows: readonly ConversationRow[], options: MergeOptions,
): Promise<ConversationRow> {
  const [survivor, ...losers] = [...rows].sort(byAge);
  if (!survivor) throw new Error('mergeConversations: no conversation');
  if (rows.some((r) => r.merged_into !== null || r.org_id !== survivor.org_id)) {
    throw new Error('mergeConversations: every row must be a live conversation of one organization');
  }
  if (losers.length === 0) return survivor;
  const orgId = survivor.org_id;
  const before = summaryOf(survivor);
  let summary = before;
  let blocked = survivor.is_blocked;
  let contactId = survivor.contact_id;
  for (const loser of losers) {
    summary = combineSummaries(summary, summaryOf(loser));
    blocked = blocked || loser.is_blocked ? 1 : 0;
    contactId ??= loser.contact_id;
    // Its last event; its fold stops the merged conversation's timers (their rows go).
    await appendEvents(tx, loser, [{ type: 'merged', at: options.at, data: { into: survivor.id, reason: options.reason, by: options.by } }]);
    await searchIndexOf(tx).merge(tx, survivor, loser.id, async () => {
      const events = await tx.selectFrom('messages').innerJoin('events', 'events.id', 'messages.event_id')
        .selectAll('events').where('messages.org_id', '=', orgId).where('messages.conversation_id', '=', loser.id)
        .orderBy('events.seq').execute();
      return searchDocuments(events.map(eventFromRow));
    });
    for (const table of MOVED_TABLES) {
      await tx.updateTable(table).set({ conversation_id: survivor.id })
        .where('org_id', '=', orgId).where('conversation_id', '=', loser.id).execute();
    }
    await tx.insertInto('conversation_participants')
      .columns(['conversation_id', 'org_id', 'address', 'domain'])
      .expression((eb) => eb.selectFrom('conversation_participants')
        .select((s) => [s.val(survivor.id).as('conversation_id'), 'org_id', 'address', 'domain'])
        .where('conversation_id', '=', loser.id))
      .onConflict((oc) => oc.columns(['conversation_id', 'address']).doNothing())
      .execute();
    await tx.deleteFrom('conversation_participants').where('conversation_id', '=', loser.id).execute();
  }
  const loserIds = losers.map((l) => l.id);
  await tx.updateTable('conversations').set({ merged_into: survivor.id, is_blocked: blocked })
    .where('org_id', '=', orgId).where('id', 'in', loserIds).execute();
  return writeSummary(tx, survivor, before, summary, { is_blocked: blocked, contact_id: contactId });
}
