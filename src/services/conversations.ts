/**
 * `PATCH /v1/conversations/{id}` and the label and archive commands: one patch becomes
 * the events that change something (a repeated command appends nothing), appended in
 * one transaction.
 */
import { isoNow, systemClock, type Clock } from '../clock.js';
import type { Actor, EventBody } from '../domain/events.js';
import type { ConversationSummary } from '../domain/projection.js';
import { AppError, notFound } from '../errors.js';
import { findConversation } from '../store/conversations.js';
import { mergeConversations } from '../store/merge.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import type { ConversationRow } from '../store/timeline.js';
import { runCommand } from './inbox.js';

export interface ConversationPatch {
  readonly archived?: boolean;
  readonly starred?: boolean;
  /** Raw override of the unread count; 0 marks the conversation read. */
  readonly unread_count?: number;
  /** The full label set wanted; the difference becomes label_added / label_removed. */
  readonly labels?: readonly string[];
  readonly add_labels?: readonly string[];
  readonly remove_labels?: readonly string[];
}

/** The events a patch needs on a conversation with summary `current` (pure). */
export function patchEvents(current: ConversationSummary, patch: ConversationPatch, by: Actor, at: string): (EventBody & { at: string })[] {
  const events: (EventBody & { at: string })[] = [];
  const labels = new Set(current.labels);
  const add = (label: string) => {
    if (!labels.has(label)) { labels.add(label); events.push({ type: 'label_added', at, data: { label } }); }
  };
  const remove = (label: string) => {
    if (labels.has(label)) { labels.delete(label); events.push({ type: 'label_removed', at, data: { label } }); }
  };
  if (patch.labels) {
    const wanted = new Set(patch.labels);
    for (const l of current.labels) if (!wanted.has(l)) remove(l);
    for (const l of wanted) add(l);
  }
  for (const l of patch.add_labels ?? []) add(l);
  for (const l of patch.remove_labels ?? []) remove(l);
  if (patch.archived !== undefined && patch.archived !== current.archived) {
    events.push(patch.archived ? { type: 'archived', at, data: {} } : { type: 'unarchived', at, data: {} });
  }
  if (patch.starred !== undefined && patch.starred !== current.starred) {
    events.push(patch.starred ? { type: 'starred', at, data: { by } } : { type: 'unstarred', at, data: { by } });
  }
  if (patch.unread_count !== undefined && patch.unread_count !== current.unread_count) {
    events.push(patch.unread_count === 0
      ? { type: 'read', at, data: { updated_count: current.unread_count, by } }
      : { type: 'unread', at, data: { unread_count: patch.unread_count, by } });
  }
  return events;
}

/**
 * Applies a patch as events.
 *
 * @returns the conversation row after the change.
 * @throws AppError `not_found`.
 */
export async function patchConversation(store: Store, orgId: string, id: string, patch: ConversationPatch, by: Actor, clock: Clock = systemClock): Promise<ConversationRow> {
  const out = await runCommand(store, orgId, id, clock, (_row, s, _db, at) => ({ events: patchEvents(s, patch, by, at), result: null }));
  return out.conversation;
}

/** Marks a conversation unread again: its unread count becomes at least 1. */
export async function markUnread(store: Store, orgId: string, id: string, by: Actor, clock: Clock = systemClock): Promise<ConversationRow> {
  const out = await runCommand(store, orgId, id, clock, (_row, s, _db, at) => ({
    events: patchEvents(s, { unread_count: Math.max(s.unread_count, 1) }, by, at), result: null,
  }));
  return out.conversation;
}

/**
 * Merges two conversations of one identity (`POST /v1/conversations/{id}/merge`): the
 * older survives and absorbs the other, exactly as when threading finds them linked
 * (store/merge.ts), with a `merged` event of reason `manual`. Conversations that are one
 * already (the same id, or merged before) are left as they are.
 *
 * @returns the survivor after the merge.
 * @throws AppError `not_found` (param `conversation_id` for the second) when either is not the org's;
 *   `identity_mismatch` when they belong to different identities.
 */
export async function mergeManually(
  store: Store, orgId: string, id: string, otherId: string, by: Actor, clock: Clock = systemClock,
): Promise<ConversationRow> {
  return inOrgTransaction(store, orgId, async (tx) => {
    const a = await findConversation(tx, orgId, id);
    if (!a) throw notFound('conversation');
    const b = await findConversation(tx, orgId, otherId);
    if (!b) throw new AppError('not_found', 'No conversation with that id.', { param: 'conversation_id' });
    if (a.identity_id !== b.identity_id) {
      throw new AppError('identity_mismatch', `${a.id} belongs to identity ${a.identity_id} and ${b.id} to ${b.identity_id}; only conversations of one identity can be merged.`, { param: 'conversation_id' });
    }
    if (a.id === b.id) return a;
    return mergeConversations(tx, [a, b], { reason: 'manual', by, at: isoNow(clock) });
  });
}
