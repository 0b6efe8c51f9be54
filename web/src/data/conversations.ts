/**
 * Reads of conversations: a view's list (keyset pages, fetched as the list scrolls), one
 * conversation's snapshot, its timeline (earlier pages on demand) and its pending
 * suggestions. The live stream invalidates these by their keys (`api/keys.ts`).
 */
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';
import { keys } from '../api/keys';
import type { Channel, ConversationQuery, ConversationSnapshot, Suggestion, TimelineEvent } from '../api/types';
import type { ListFilters } from '../routing/router';
import { CHANNEL_NAMES } from '../ui/ChannelIcon';

/** Conversations per page of the list. */
export const LIST_PAGE_SIZE = 50;
/** Events per timeline page (the route's maximum). */
const TIMELINE_PAGE_SIZE = 100;

const isChannel = (value: string): value is Channel => Object.hasOwn(CHANNEL_NAMES, value);

/**
 * The `GET /v1/conversations` query of a view with the list's filters: an empty filter is
 * left out, an unknown channel is ignored (it comes from the address bar).
 */
export function listQuery(viewId: string, filters: ListFilters): ConversationQuery {
  const query: ConversationQuery = { view_id: viewId, limit: LIST_PAGE_SIZE };
  const q = filters.q.trim();
  if (q) query.q = q.slice(0, 200);
  if (filters.identity) query.identity_id = filters.identity;
  if (isChannel(filters.channel)) query.channel = filters.channel;
  if (filters.assignee) query.assigned_to = filters.assignee;
  return query;
}

/** The list of `query`, page after page; `fetchNextPage` reads the next keyset page. */
export function useConversationList(query: ConversationQuery) {
  return useInfiniteQuery({
    queryKey: keys.conversationList(query),
    queryFn: async ({ pageParam, signal }) =>
      unwrap(await api.GET('/v1/conversations', { params: { query: pageParam ? { ...query, cursor: pageParam } : query }, signal })),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => (last.has_more ? last.next_cursor : null),
    // A search or filter change keeps the old rows on screen until the new ones arrive.
    placeholderData: (previous) => previous,
  });
}

/**
 * A conversation's snapshot (summary, contact, sender health, the first events). For a
 * merged conversation the server answers with its survivor, whose id differs from `id`.
 */
export function useConversation(id: string) {
  return useQuery({
    queryKey: keys.conversation(id),
    queryFn: async ({ signal }): Promise<ConversationSnapshot> => unwrap(await api.GET('/v1/conversations/{id}', { params: { path: { id } }, signal })),
  });
}

export type Timeline = {
  /** Oldest first. */
  readonly events: readonly TimelineEvent[];
  readonly loading: boolean;
  readonly hasEarlier: boolean;
  readonly loadingEarlier: boolean;
  readonly loadEarlier: () => void;
};

const NO_EVENTS: readonly TimelineEvent[] = [];

/**
 * The timeline of the open conversation, oldest first. When the snapshot holds every
 * event it is used as it is; a longer timeline is read newest first, a page at a time,
 * so the latest events show without reading the whole history.
 */
export function useTimeline(snapshot: ConversationSnapshot): Timeline {
  const complete = !snapshot.has_more_events;
  const id = snapshot.id;
  const pages = useInfiniteQuery({
    queryKey: keys.timeline(id),
    queryFn: async ({ pageParam, signal }) =>
      unwrap(await api.GET('/v1/conversations/{id}/events', {
        params: { path: { id }, query: { order: 'desc', limit: TIMELINE_PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) } },
        signal,
      })),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => (last.has_more ? last.next_cursor : null),
    enabled: !complete,
  });
  if (complete) return { events: snapshot.events, loading: false, hasEarlier: false, loadingEarlier: false, loadEarlier: () => {} };
  const events = pages.data ? pages.data.pages.flatMap((p) => p.data).reverse() : NO_EVENTS;
  return {
    events,
    loading: pages.isPending,
    hasEarlier: pages.hasNextPage,
    loadingEarlier: pages.isFetchingNextPage,
    loadEarlier: () => void pages.fetchNextPage(),
  };
}

/** The drafts of agents still waiting for a person (`status=pending`), oldest first. */
export function usePendingSuggestions(conversationId: string) {
  return useQuery({
    queryKey: keys.suggestions(conversationId),
    queryFn: async ({ signal }): Promise<Suggestion[]> =>
      unwrap(await api.GET('/v1/conversations/{id}/suggestions', { params: { path: { id: conversationId }, query: { status: 'pending' } }, signal })).data,
  });
}
