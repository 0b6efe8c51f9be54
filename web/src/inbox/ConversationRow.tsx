import { memo, type MouseEvent } from 'react';
import type { Conversation, Member } from '../api/types';
import { memberName } from '../data/directory';
import { sanitizeSnippet } from '../html/search-snippet';
import { ChannelIcon } from '../ui/ChannelIcon';
import { RelativeTime } from '../ui/RelativeTime';

type RowProps = {
  readonly conversation: Conversation;
  readonly assignee: Member | undefined;
  readonly open: boolean;
  readonly selected: boolean;
  readonly href: string;
  readonly onOpen: (id: string) => void;
  readonly onToggleStar: (c: Conversation) => void;
};

/** One conversation of the list: who, subject, latest text, time, unread, star, assignee, channel, overdue. */
export const ConversationRow = memo(function ConversationRow({ conversation: c, assignee, open, selected, href, onOpen, onToggleStar }: RowProps) {
  const unread = c.unread_count > 0;
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || e.button !== 0) return;
    e.preventDefault();
    onOpen(c.id);
  };
  return (
    <li role="listitem" data-id={c.id} className={`row${unread ? ' unread' : ''}${open ? ' open' : ''}${selected ? ' selected' : ''}`}>
      <a className="row-link" href={href} onClick={onClick} aria-current={open ? 'true' : undefined}>
        <span className="row-line">
          <ChannelIcon channel={c.channel} />
          <span className="counterpart">{c.counterpart ?? 'Unknown sender'}</span>
          {unread && (
            <span className="unread-count" aria-label={`${c.unread_count} unread`}>
              {c.unread_count}
            </span>
          )}
          <RelativeTime at={c.latest_message?.at ?? c.last_event_at} className="row-time" />
        </span>
        {(c.subject || c.channel === 'email') && <span className="subject">{c.subject || '(no subject)'}</span>}
        {c.search ? (
          <span className="snippet" dangerouslySetInnerHTML={{ __html: sanitizeSnippet(c.search.snippet) }} />
        ) : (
          <span className="snippet">
            {c.latest_message?.direction === 'outbound' && <span className="you">You: </span>}
            {c.latest_message?.text ?? ''}
          </span>
        )}
        <span className="row-meta">
          {c.overdue && <span className="badge overdue">Overdue</span>}
          {c.archived && <span className="badge">Archived</span>}
          {c.labels.map((l) => (
            <span key={l} className="badge label">
              {l}
            </span>
          ))}
          {assignee && <span className="assignee" title="Assigned to">→ {memberName(assignee)}</span>}
        </span>
      </a>
      <button
        type="button"
        className={`star${c.starred ? ' on' : ''}`}
        aria-pressed={c.starred}
        aria-label={c.starred ? `Unstar ${c.subject ?? 'conversation'}` : `Star ${c.subject ?? 'conversation'}`}
        tabIndex={-1}
        onClick={() => onToggleStar(c)}
      >
        {c.starred ? '★' : '☆'}
      </button>
    </li>
  );
});
