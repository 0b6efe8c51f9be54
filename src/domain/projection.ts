/**
 * The conversation summary: a pure reducer over timeline events (SPEC section 3).
 * The store applies it to the stored summary in the same transaction that appends the
 * event, so reads never scan the timeline.
 */
import type { Direction, EventBody } from './events.js';

export interface LatestMessage {
  /** Preview text (the snippet). */
  readonly text: string;
  readonly at: string;
  readonly direction: Direction;
  readonly has_media: boolean;
}

export interface ConversationSummary {
  readonly message_count: number;
  /** Inbound messages not yet read; exact, no cap. */
  readonly unread_count: number;
  readonly latest_message: LatestMessage | null;
  /** RFC 3339; the newest `at` of any event. */
  readonly last_event_at: string;
  readonly labels: readonly string[];
  readonly archived: boolean;
}

/** The summary of a conversation that has no events yet. */
export function emptySummary(at: string): ConversationSummary {
  return { message_count: 0, unread_count: 0, latest_message: null, last_event_at: at, labels: [], archived: false };
}

/**
 * Folds one event into a summary.
 *
 * Rules: a message counts once; an inbound one is unread and brings an archived
 * conversation back to the inbox; the latest message is the one with the newest `at`
 * (ties go to the later event); labels keep first-added order without repeats.
 */
export function applyEvent(s: ConversationSummary, event: EventBody & { readonly at: string }): ConversationSummary {
  const last_event_at = maxIso(s.last_event_at, event.at);
  switch (event.type) {
    case 'message': {
      const m = event.data;
      const inbound = m.direction === 'inbound';
      const newer = s.latest_message === null || Date.parse(event.at) >= Date.parse(s.latest_message.at);
      return {
        ...s,
        last_event_at,
        message_count: s.message_count + 1,
        unread_count: s.unread_count + (inbound ? 1 : 0),
        archived: inbound ? false : s.archived,
        latest_message: newer
          ? { text: m.snippet, at: event.at, direction: m.direction, has_media: m.media.length > 0 }
          : s.latest_message,
      };
    }
    case 'label_added':
      return s.labels.includes(event.data.label)
        ? { ...s, last_event_at }
        : { ...s, last_event_at, labels: [...s.labels, event.data.label] };
    case 'label_removed':
      return { ...s, last_event_at, labels: s.labels.filter((l) => l !== event.data.label) };
    case 'archived':
      return { ...s, last_event_at, archived: true };
    case 'unarchived':
      return { ...s, last_event_at, archived: false };
    case 'message_status':
      return { ...s, last_event_at };
  }
}

function maxIso(a: string, b: string): string {
  return Date.parse(b) > Date.parse(a) ? b : a;
}
