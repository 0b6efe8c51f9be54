/**
 * TanStack Query keys, one place: the live stream invalidates by these prefixes.
 */
import type { ConversationQuery } from './types';

export const keys = {
  session: ['session'] as const,
  views: ['views'] as const,
  viewCounts: (identityId: string | undefined) => ['view-counts', identityId ?? 'all'] as const,
  viewCountsAll: ['view-counts'] as const,
  identities: ['identities'] as const,
  members: ['members'] as const,
  conversationLists: ['conversations'] as const,
  conversationList: (query: ConversationQuery) => ['conversations', query] as const,
  conversation: (id: string) => ['conversation', id] as const,
  timeline: (id: string) => ['timeline', id] as const,
  suggestions: (id: string) => ['suggestions', id] as const,
};
