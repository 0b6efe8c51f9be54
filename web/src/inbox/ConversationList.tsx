import { useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Conversation } from '../api/types';
import { conversationActions } from '../data/actions';
import { listQuery, useConversationList } from '../data/conversations';
import { useMembers } from '../data/directory';
import { useShortcut } from '../keyboard/shortcuts';
import type { ListFilters } from '../routing/router';
import { ConversationRow } from './ConversationRow';
import type { InboxNavigation } from './Inbox';
import { ListToolbar } from './ListToolbar';

/**
 * A view's conversations: one page of 50 at a time (keyset pages of
 * `GET /v1/conversations?view_id=`), the next fetched when the end of the list scrolls
 * near. `j`/`k` move the selection, `o`/Enter open it, `e` archives it.
 */
export function ConversationList({ viewId, filters, openId, nav, onMenu }: {
  readonly viewId: string;
  readonly filters: ListFilters;
  readonly openId: string | null;
  readonly nav: InboxNavigation;
  readonly onMenu: () => void;
}) {
  const qc = useQueryClient();
  const query = useMemo(() => listQuery(viewId, filters), [viewId, filters]);
  const list = useConversationList(query);
  const members = useMembers();
  const conversations = useMemo(() => list.data?.pages.flatMap((p) => p.data) ?? [], [list.data]);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const scrollRef = useRef<HTMLDivElement>(null);
  const sentinelRef = useRef<HTMLDivElement>(null);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = list;

  useEffect(() => {
    const sentinel = sentinelRef.current;
    if (!sentinel || !hasNextPage) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting) && !isFetchingNextPage) void fetchNextPage();
      },
      { root: scrollRef.current, rootMargin: '600px 0px' },
    );
    observer.observe(sentinel);
    return () => observer.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const current = selectedId ?? openId;

  const focusRow = useCallback((id: string) => {
    const link = scrollRef.current?.querySelector<HTMLAnchorElement>(`[data-id="${CSS.escape(id)}"] a.row-link`);
    link?.scrollIntoView({ block: 'nearest' });
    link?.focus({ preventScroll: true });
  }, []);

  const listVisible = () => (scrollRef.current?.offsetParent ?? null) !== null;

  const move = (step: 1 | -1) => {
    if (conversations.length === 0) return;
    const at = current ? conversations.findIndex((c) => c.id === current) : -1;
    const next = at < 0 ? 0 : Math.min(conversations.length - 1, Math.max(0, at + step));
    const target = conversations[next]!;
    if (next >= conversations.length - 5 && hasNextPage && !isFetchingNextPage) void fetchNextPage();
    setSelectedId(target.id);
    // On a narrow screen an open conversation hides the list: the next one opens instead.
    if (openId && !listVisible()) nav.openConversation(target.id, { replace: true });
    else focusRow(target.id);
  };

  useShortcut('j', () => move(1));
  useShortcut('k', () => move(-1));
  const openSelected = () => {
    if (selectedId && selectedId !== openId) nav.openConversation(selectedId);
  };
  useShortcut('o', openSelected);
  useShortcut('Enter', openSelected);
  useShortcut('e', () => {
    const target = conversations.find((c) => c.id === selectedId);
    if (!target) return;
    const at = conversations.indexOf(target);
    setSelectedId(conversations[at + 1]?.id ?? conversations[at - 1]?.id ?? null);
    void conversationActions(qc, target.id).archive(!target.archived);
  }, openId === null);

  const open = useCallback((id: string) => {
    setSelectedId(id);
    nav.openConversation(id);
  }, [nav]);
  const toggleStar = useCallback((c: Conversation) => void conversationActions(qc, c.id).star(!c.starred), [qc]);

  return (
    <section className="list-pane" aria-label="Conversation list">
      <ListToolbar filters={filters} nav={nav} onMenu={onMenu} />
      <div className="list-scroll" ref={scrollRef}>
        <ul role="list" aria-label="Conversations" aria-busy={list.isPending} className="conversations">
          {conversations.map((c) => (
            <ConversationRow
              key={c.id}
              conversation={c}
              assignee={c.assigned_to ? members.data?.get(c.assigned_to) : undefined}
              open={c.id === openId}
              selected={c.id === selectedId}
              href={nav.conversationHref(c.id)}
              onOpen={open}
              onToggleStar={toggleStar}
            />
          ))}
        </ul>
        {list.isPending && <p className="list-note">Loading conversations…</p>}
        {list.isError && !list.data && <p className="list-note">The conversations could not be loaded.</p>}
        {list.isSuccess && conversations.length === 0 && (
          <p className="list-note">{filters.q ? `Nothing matches “${filters.q}”.` : 'No conversations here.'}</p>
        )}
        <div ref={sentinelRef} className="list-end" aria-hidden="true">
          {isFetchingNextPage ? 'Loading more…' : ''}
        </div>
      </div>
    </section>
  );
}
