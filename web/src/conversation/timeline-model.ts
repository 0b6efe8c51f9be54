/**
 * The timeline as shown: events folded into items. A message carries its latest delivery
 * status (from its `message_status` events) and the reactions to it; read state, stars and
 * suggestion drafts are not lines of their own.
 */
import type { EventOf, MessageStatus, TimelineEvent } from '../api/types';

export type Reaction = { readonly reaction: string; readonly inbound: boolean };

export type TimelineItem =
  | {
      readonly kind: 'message';
      readonly event: EventOf<'message'>;
      readonly status: MessageStatus;
      readonly error: string | null;
      readonly reactions: readonly Reaction[];
    }
  | { readonly kind: 'note'; readonly event: EventOf<'note'> }
  | { readonly kind: 'call'; readonly event: EventOf<'call'> }
  | { readonly kind: 'line'; readonly event: TimelineEvent };

/** Event types shown as a one-line entry ("Ann archived this", "Label vip added"). */
const LINES = new Set<TimelineEvent['type']>([
  'label_added', 'label_removed', 'archived', 'unarchived', 'assigned', 'merged', 'no_reply_expired', 'sla_breached',
  'suggestion_sent', 'connection_activated', 'connection_released',
]);

export function buildTimeline(events: readonly TimelineEvent[]): TimelineItem[] {
  const statuses = new Map<string, { status: MessageStatus; error: string | null }>();
  const reactions = new Map<string, Map<string, Reaction>>();
  for (const e of events) {
    if (e.type === 'message_status') statuses.set(e.data.message_id, { status: e.data.status, error: e.data.error });
    if (e.type === 'reaction') {
      const forMessage = reactions.get(e.data.message_id) ?? new Map<string, Reaction>();
      const who = `${e.data.direction}:${e.data.reaction}`;
      if (e.data.removed) forMessage.delete(who);
      else forMessage.set(who, { reaction: e.data.reaction, inbound: e.data.direction === 'inbound' });
      reactions.set(e.data.message_id, forMessage);
    }
  }
  const items: TimelineItem[] = [];
  for (const e of events) {
    if (e.type === 'message') {
      const latest = statuses.get(e.data.message_id);
      items.push({
        kind: 'message',
        event: e,
        status: latest?.status ?? e.data.status,
        error: latest?.error ?? null,
        reactions: [...(reactions.get(e.data.message_id)?.values() ?? [])],
      });
    } else if (e.type === 'note') items.push({ kind: 'note', event: e });
    else if (e.type === 'call') items.push({ kind: 'call', event: e });
    else if (LINES.has(e.type)) items.push({ kind: 'line', event: e });
  }
  return items;
}
