import { useState } from 'react';
import type { ConversationSnapshot } from '../api/types';
import { useSignedIn } from '../auth/session';
import { useConversationActions } from '../data/actions';
import { memberName, useMembers } from '../data/directory';
import type { InboxNavigation } from '../inbox/Inbox';
import { useShortcut } from '../keyboard/shortcuts';
import { ChannelIcon, CHANNEL_NAMES } from '../ui/ChannelIcon';
import { MergeDialog } from './MergeDialog';

/** Subject, counterpart and the actions: star, assign, archive (`e`), mark unread, merge. */
export function ConversationHeader({ snapshot, nav, detailsOpen, onToggleDetails }: {
  readonly snapshot: ConversationSnapshot;
  readonly nav: InboxNavigation;
  readonly detailsOpen: boolean;
  readonly onToggleDetails: () => void;
}) {
  const actions = useConversationActions(snapshot.id);
  const members = useMembers();
  const me = useSignedIn().member;
  const [merging, setMerging] = useState(false);

  const archive = () => {
    void actions.archive(!snapshot.archived);
    if (!snapshot.archived) nav.closeConversation();
  };
  useShortcut('e', archive);

  const name = snapshot.contact?.display_name ?? snapshot.counterpart ?? 'Unknown sender';
  return (
    <header className="conversation-header">
      <button type="button" className="back" onClick={nav.closeConversation} aria-label="Back to conversations">
        ←
      </button>
      <div className="conversation-title">
        <h2>{snapshot.subject || (snapshot.channel === 'email' ? '(no subject)' : name)}</h2>
        <p>
          <ChannelIcon channel={snapshot.channel} /> {name}
          {snapshot.contact?.display_name && snapshot.counterpart ? <span className="muted"> · {snapshot.counterpart}</span> : null}
          <span className="muted"> · {CHANNEL_NAMES[snapshot.channel]}</span>
        </p>
      </div>
      <div className="toolbar" role="toolbar" aria-label="Conversation actions">
        <button type="button" aria-pressed={snapshot.starred} onClick={() => void actions.star(!snapshot.starred)}>
          {snapshot.starred ? '★ Starred' : '☆ Star'}
        </button>
        <label className="assign">
          <span className="visually-hidden">Assignee</span>
          <select aria-label="Assignee" value={snapshot.assigned_to ?? ''} onChange={(e) => void actions.assign(e.target.value || null)}>
            <option value="">Unassigned</option>
            {snapshot.assigned_to && !members.data?.has(snapshot.assigned_to) && <option value={snapshot.assigned_to}>{snapshot.assigned_to}</option>}
            {[...(members.data?.values() ?? [])].map((m) => (
              <option key={m.id} value={m.id}>
                {m.id === me.id ? `${memberName(m)} (me)` : memberName(m)}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={archive} title="Archive (e)">
          {snapshot.archived ? 'Unarchive' : 'Archive'}
        </button>
        <button
          type="button"
          onClick={() => {
            void actions.markUnread();
            nav.closeConversation();
          }}
        >
          Mark unread
        </button>
        <button type="button" onClick={() => setMerging(true)}>
          Merge…
        </button>
        <button type="button" className="details-toggle" aria-expanded={detailsOpen} aria-controls="participant-panel" onClick={onToggleDetails}>
          Details
        </button>
      </div>
      {merging && (
        <MergeDialog
          snapshot={snapshot}
          onClose={() => setMerging(false)}
          onMerge={async (otherId) => {
            const survivor = await actions.merge(otherId);
            if (survivor) {
              setMerging(false);
              nav.openConversation(survivor, { replace: true });
            }
          }}
        />
      )}
    </header>
  );
}
