import { useLayoutEffect, useMemo, useRef } from 'react';
import type { ConversationSnapshot } from '../api/types';
import { useTimeline } from '../data/conversations';
import { useMembers } from '../data/directory';
import { MessageItem } from './MessageItem';
import { CallItem, EventLine, NoteItem } from './TimelineEntries';
import { buildTimeline } from './timeline-model';

/**
 * The conversation's timeline, oldest at the top: messages (with delivery status),
 * notes, calls, and one-line events. Opens scrolled to the newest; stays at the bottom as
 * new events arrive if it was there.
 */
export function Timeline({ snapshot }: { readonly snapshot: ConversationSnapshot }) {
  const timeline = useTimeline(snapshot);
  const members = useMembers();
  const items = useMemo(() => buildTimeline(timeline.events), [timeline.events]);
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const lastId = items.at(-1)?.event.id;

  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [lastId, items.length]);

  return (
    <div
      className="timeline"
      ref={scroller}
      tabIndex={-1}
      onScroll={(e) => {
        const el = e.currentTarget;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      }}
    >
      {timeline.hasEarlier && (
        <button type="button" className="load-earlier" disabled={timeline.loadingEarlier} onClick={timeline.loadEarlier}>
          {timeline.loadingEarlier ? 'Loading…' : 'Show earlier events'}
        </button>
      )}
      {timeline.loading && <p className="muted">Loading the timeline…</p>}
      <ol className="timeline-items" aria-label="Timeline">
        {items.map((item) => (
          <li key={item.event.id} className={`timeline-item item-${item.kind}`}>
            {item.kind === 'message' ? (
              <MessageItem item={item} />
            ) : item.kind === 'note' ? (
              <NoteItem event={item.event} members={members.data} />
            ) : item.kind === 'call' ? (
              <CallItem event={item.event} />
            ) : (
              <EventLine event={item.event} members={members.data} />
            )}
          </li>
        ))}
      </ol>
    </div>
  );
}
