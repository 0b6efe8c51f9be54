import { useMemo, useState } from 'react';
import { ConversationPane } from '../conversation/ConversationPane';
import { useLiveUpdates } from '../live/event-stream';
import { inboxPath, navigate, type ListFilters, type Route } from '../routing/router';
import { ConversationList } from './ConversationList';
import { Sidebar } from './Sidebar';

type InboxRoute = Extract<Route, { page: 'inbox' }>;

/** Where the inbox can go: another view, a conversation, back to the list, other filters. */
export type InboxNavigation = {
  readonly openView: (viewId: string) => void;
  readonly openConversation: (id: string, options?: { replace?: boolean }) => void;
  readonly closeConversation: () => void;
  readonly setFilters: (filters: ListFilters) => void;
  readonly viewHref: (viewId: string) => string;
  readonly conversationHref: (id: string) => string;
};

/**
 * The signed-in screen, three panes: views (with counts), a view's conversations, and the
 * open conversation. Below 800 px the list and the conversation take turns.
 */
export function Inbox({ route }: { readonly route: InboxRoute }) {
  useLiveUpdates();
  const [menuOpen, setMenuOpen] = useState(false);
  const { viewId, conversationId, filters } = route;

  const nav = useMemo<InboxNavigation>(() => ({
    openView: (id) => {
      setMenuOpen(false);
      navigate(inboxPath(id, null, filters));
    },
    openConversation: (id, options) => navigate(inboxPath(viewId, id, filters), options),
    closeConversation: () => navigate(inboxPath(viewId, null, filters)),
    setFilters: (next) => navigate(inboxPath(viewId, conversationId, next), { replace: true }),
    viewHref: (id) => inboxPath(id, null, filters),
    conversationHref: (id) => inboxPath(viewId, id, filters),
  }), [viewId, conversationId, filters]);

  return (
    <div className={`inbox${conversationId ? ' has-open' : ''}${menuOpen ? ' menu-open' : ''}`}>
      <Sidebar viewId={viewId} filters={filters} nav={nav} onClose={() => setMenuOpen(false)} />
      <ConversationList viewId={viewId} filters={filters} openId={conversationId} nav={nav} onMenu={() => setMenuOpen(true)} />
      {conversationId ? (
        <ConversationPane key={conversationId} id={conversationId} nav={nav} />
      ) : (
        <main className="conversation-pane empty-pane" aria-label="No conversation open">
          <p>Select a conversation. <kbd>j</kbd>/<kbd>k</kbd> to move, <kbd>o</kbd> to open, <kbd>/</kbd> to search.</p>
        </main>
      )}
    </div>
  );
}
