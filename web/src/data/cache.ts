/**
 * The query cache around one conversation: refetching what a change may have touched, and
 * writing a change we already know the outcome of into every cached copy (the open
 * snapshot and the list pages) before the server confirms it.
 */
import type { InfiniteData, QueryClient } from '@tanstack/react-query';
import { keys } from '../api/keys';
import type { Conversation, ConversationPage, ConversationSnapshot } from '../api/types';

/** Summary fields an action may change: what an optimistic update writes. */
export type ConversationPatch = Partial<Pick<Conversation, 'archived' | 'starred' | 'unread_count' | 'labels' | 'assigned_to'>>;

/**
 * Refetches conversation `id` (snapshot and timeline), the lists and the view counts;
 * resolves when the active ones are back.
 */
export async function refreshConversation(qc: QueryClient, id: string): Promise<void> {
  await Promise.allSettled([
    qc.invalidateQueries({ queryKey: keys.conversation(id) }),
    qc.invalidateQueries({ queryKey: keys.timeline(id) }),
    qc.invalidateQueries({ queryKey: keys.conversationLists }),
    qc.invalidateQueries({ queryKey: keys.viewCountsAll }),
  ]);
}

/**
 * Writes `patch` into every cached copy of conversation `id`. In-flight reads of it are
 * cancelled first so an older answer cannot overwrite the change; `refreshConversation`
 * after the call brings the server's word.
 */
export async function patchConversation(qc: QueryClient, id: string, patch: ConversationPatch): Promise<void> {
  await Promise.all([qc.cancelQueries({ queryKey: keys.conversation(id) }), qc.cancelQueries({ queryKey: keys.conversationLists })]);
  qc.setQueryData<ConversationSnapshot>(keys.conversation(id), (old) => (old ? { ...old, ...patch } : old));
  qc.setQueriesData<InfiniteData<ConversationPage>>({ queryKey: keys.conversationLists }, (old) => {
    if (!old) return old;
    let changed = false;
    const pages = old.pages.map((p) => {
      if (!p.data.some((c) => c.id === id)) return p;
      changed = true;
      return { ...p, data: p.data.map((c) => (c.id === id ? { ...c, ...patch } : c)) };
    });
    return changed ? { ...old, pages } : old;
  });
}
