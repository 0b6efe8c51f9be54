/**
 * What the inbox shell reads once and keeps: the views, their counts (live), the
 * identities and the members (for assignment and "who did it").
 */
import { Paginator, type Page } from '@switchboard/sdk';
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';
import { keys } from '../api/keys';
import type { Identity, Member, View, ViewCount } from '../api/types';

/** The most a list route pages at once (its `limit` maximum). */
const PAGE_LIMIT = 100;

/**
 * Every item of a keyset-paged list route, page after page (the SDK's `Paginator`).
 *
 * @param read one page from `cursor` (undefined for the first).
 */
function allPages<T>(read: (cursor: string | undefined) => Promise<Page<T>>): Promise<T[]> {
  return new Paginator<T, Page<T>>(read, (page) => (page.has_more && page.next_cursor) || undefined).toArray();
}

/** The views, built-ins first, as the server orders them. */
export function useViews() {
  return useQuery({
    queryKey: keys.views,
    queryFn: async ({ signal }): Promise<View[]> => unwrap(await api.GET('/v1/views', { signal })).data,
    staleTime: 5 * 60_000,
  });
}

/** Unread and total conversations per view id, of one identity or of all (`undefined`). */
export function useViewCounts(identityId: string | undefined) {
  return useQuery({
    queryKey: keys.viewCounts(identityId),
    queryFn: async ({ signal }): Promise<ReadonlyMap<string, ViewCount>> => {
      const { data } = unwrap(await api.GET('/v1/views/counts', { params: { query: identityId ? { identity_id: identityId } : {} }, signal }));
      return new Map(data.map((c) => [c.view_id, c]));
    },
  });
}

/** The identities the signed-in member sees (one, for a member limited to an identity). */
export function useIdentities() {
  return useQuery({
    queryKey: keys.identities,
    queryFn: ({ signal }): Promise<Identity[]> =>
      allPages(async (cursor) => unwrap(await api.GET('/v1/identities', { params: { query: { limit: PAGE_LIMIT, cursor } }, signal }))),
    staleTime: 5 * 60_000,
  });
}

/** The organization's members by id. */
export function useMembers() {
  return useQuery({
    queryKey: keys.members,
    queryFn: async ({ signal }): Promise<ReadonlyMap<string, Member>> => {
      const members = await allPages(async (cursor) => unwrap(await api.GET('/v1/members', { params: { query: { limit: PAGE_LIMIT, cursor } }, signal })));
      return new Map(members.map((m) => [m.id, m]));
    },
    staleTime: 5 * 60_000,
  });
}

/** A member as people call them: the name, else the address; "A former member" when unknown. */
export function memberName(member: Member | undefined): string {
  if (!member) return 'A former member';
  return member.name ?? member.email;
}
