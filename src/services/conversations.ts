/**
 * Conversation commands besides sending: labels and archive. Each appends the events
 * that change something (a repeated command appends nothing) in one transaction.
 */
import type { EventBody } from '../domain/events.js';
import { notFound } from '../errors.js';
import { findConversation } from '../store/conversations.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import { appendEvents, summaryOf, type ConversationRow } from '../store/timeline.js';

export interface ConversationPatch {
  readonly archived?: boolean;
  /** The full label set wanted; the difference becomes label_added / label_removed. */
  readonly labels?: readonly string[];
  readonly add_labels?: readonly string[];
  readonly remove_labels?: readonly string[];
}

/**
 * Applies a patch as events.
 *
 * @returns the conversation row after the change.
 * @throws AppError `not_found`.
 */
export async function patchConversation(store: Store, orgId: string, id: string, patch: ConversationPatch): Promise<ConversationRow> {
  return inOrgTransaction(store, orgId, async (tx) => {
    const row = await findConversation(tx, orgId, id);
    if (!row) throw notFound('conversation');
    const current = summaryOf(row);
    const at = new Date().toISOString();
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
    if (events.length === 0) return row;
    return (await appendEvents(tx, row, events)).conversation;
  });
}
