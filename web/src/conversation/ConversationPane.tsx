import { useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/problem';
import type { ConversationSnapshot } from '../api/types';
import { useConversationActions } from '../data/actions';
import { useConversation } from '../data/conversations';
import type { InboxNavigation } from '../inbox/Inbox';
import { useShortcut } from '../keyboard/shortcuts';
import { Composer } from './Composer';
import { ConversationHeader } from './ConversationHeader';
import { ParticipantPanel } from './ParticipantPanel';
import { SenderBanner, replyBlocked } from './SenderBanner';
import { SuggestionCards } from './SuggestionCards';
import { Timeline } from './Timeline';
import { TypingIndicator } from './TypingIndicator';

/** The open conversation: header and actions, timeline, suggestions, composer, participant panel. */
export function ConversationPane({ id, nav }: { readonly id: string; readonly nav: InboxNavigation }) {
  const conversation = useConversation(id);
  useShortcut('Escape', nav.closeConversation);
  const snapshot = conversation.data;

  // A merged conversation answers with its survivor: go there.
  useEffect(() => {
    if (snapshot && snapshot.id !== id) nav.openConversation(snapshot.id, { replace: true });
  }, [snapshot, id, nav]);

  if (!snapshot || snapshot.id !== id) {
    const missing = conversation.error instanceof ApiError && conversation.error.status === 404;
    return (
      <main className="conversation-pane" aria-label="Conversation">
        <div className="pane-message">
          <button type="button" className="back" onClick={nav.closeConversation}>
            ← Conversations
          </button>
          <p role={missing ? 'alert' : 'status'}>
            {missing ? 'This conversation does not exist, or is not visible to you.' : conversation.isError ? 'The conversation could not be loaded.' : 'Loading…'}
          </p>
        </div>
      </main>
    );
  }
  return <OpenConversation snapshot={snapshot} nav={nav} />;
}

function OpenConversation({ snapshot, nav }: { readonly snapshot: ConversationSnapshot; readonly nav: InboxNavigation }) {
  useMarkRead(snapshot);
  const blocked = replyBlocked(snapshot);
  const [details, setDetails] = useState(false);
  return (
    <main className="conversation-pane" aria-label={snapshot.subject || 'Conversation'}>
      <ConversationHeader snapshot={snapshot} nav={nav} detailsOpen={details} onToggleDetails={() => setDetails((d) => !d)} />
      {blocked && <SenderBanner snapshot={snapshot} />}
      <div className="conversation-body">
        <div className="conversation-main">
          <Timeline snapshot={snapshot} />
          <SuggestionCards conversationId={snapshot.id} disabled={blocked !== null} />
          <TypingIndicator conversationId={snapshot.id} />
          <Composer snapshot={snapshot} disabled={blocked !== null} />
        </div>
        <ParticipantPanel snapshot={snapshot} open={details} />
      </div>
    </main>
  );
}

/**
 * Opening a conversation reads it: its unread count is cleared (`PATCH {unread_count: 0}`,
 * no read receipt to the person), again when new mail arrives while it is open.
 */
function useMarkRead(snapshot: ConversationSnapshot): void {
  const actions = useConversationActions(snapshot.id);
  const marked = useRef<string | null>(null);
  const key = `${snapshot.id}@${snapshot.latest_message?.at ?? ''}`;
  useEffect(() => {
    if (snapshot.unread_count === 0 || marked.current === key || document.visibilityState === 'hidden') return;
    marked.current = key;
    void actions.markRead();
  }, [snapshot.unread_count, key, actions]);
}
