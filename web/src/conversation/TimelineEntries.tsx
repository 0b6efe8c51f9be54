import type { EventOf, Member, TimelineEvent } from '../api/types';
import { memberName } from '../data/directory';
import { duration } from '../format/time';
import { RelativeTime } from '../ui/RelativeTime';

type Members = ReadonlyMap<string, Member> | undefined;

/** Who did something: the member a key or session acts as, or the key alone (an agent). */
function actor(by: { member_id: string | null; key_id: string } | null | undefined, members: Members): string {
  if (!by) return 'The person';
  if (by.member_id) return memberName(members?.get(by.member_id));
  return 'An API key';
}

/** An internal note (never sent to the person). */
export function NoteItem({ event, members }: { readonly event: EventOf<'note'>; readonly members: Members }) {
  return (
    <article className="note" aria-label="Internal note">
      <header className="message-head">
        <span className="message-from">Note by {actor(event.data.author, members)}</span>
        <RelativeTime at={event.at} className="message-time muted" />
      </header>
      <div className="plain-text">{event.data.text}</div>
    </article>
  );
}

/** A logged call, with its summary (and transcript, folded). */
export function CallItem({ event }: { readonly event: EventOf<'call'> }) {
  const c = event.data;
  return (
    <article className="call" aria-label="Call">
      <header className="message-head">
        <span className="message-from">
          {c.direction === 'inbound' ? 'Incoming' : 'Outgoing'} call · {duration(c.duration_s)}
        </span>
        <RelativeTime at={c.started_at} className="message-time muted" />
      </header>
      {c.summary && <p className="plain-text">{c.summary}</p>}
      {c.transcript && (
        <details>
          <summary>Transcript</summary>
          <div className="plain-text">{c.transcript}</div>
        </details>
      )}
      {c.recording_url && /^https?:\/\//i.test(c.recording_url) && (
        <a href={c.recording_url} target="_blank" rel="noopener noreferrer">
          Recording
        </a>
      )}
    </article>
  );
}

function describe(event: TimelineEvent, members: Members): string {
  switch (event.type) {
    case 'label_added':
      return `Label “${event.data.label}” added`;
    case 'label_removed':
      return `Label “${event.data.label}” removed`;
    case 'archived':
      return 'Archived';
    case 'unarchived':
      return 'Moved back to the inbox';
    case 'assigned':
      return event.data.assigned_to
        ? `${actor(event.data.by, members)} assigned this to ${memberName(members?.get(event.data.assigned_to))}`
        : `${actor(event.data.by, members)} unassigned this`;
    case 'merged':
      return event.data.reason === 'threading' ? 'Merged with another conversation of the same thread' : `${actor(event.data.by, members)} merged this with another conversation`;
    case 'no_reply_expired':
      return `No reply after ${Math.round(event.data.waited_ms / 3_600_000)} h`;
    case 'sla_breached':
      return `Response target missed (${event.data.target.replace(/_/g, ' ')})`;
    case 'suggestion_sent':
      return `${actor(event.data.by, members)} sent a suggested reply${event.data.edited ? ' (edited)' : ''}`;
    case 'connection_activated':
      return `Connected on the shared line (${event.data.counterpart})`;
    case 'connection_released':
      return event.data.reason === 'stop' ? 'The person texted STOP: connection released' : 'Connection released';
    default:
      return event.type.replace(/_/g, ' ');
  }
}

/** A one-line event of the timeline: labels, assignment, archive, merge, timers, connections. */
export function EventLine({ event, members }: { readonly event: TimelineEvent; readonly members: Members }) {
  return (
    <p className="event-line">
      <span>{describe(event, members)}</span> <RelativeTime at={event.at} className="muted" />
    </p>
  );
}
