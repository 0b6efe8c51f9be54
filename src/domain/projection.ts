/**
 * The conversation summary: a pure reducer over timeline events (SPEC section 3).
 * The store applies it to the stored summary in the same transaction that appends the
 * event, so reads never scan the timeline.
 */
import type { Direction, EventBody, SlaTarget } from './events.js';

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
  /** Outbound messages so far (an SLA's first response is the first of them). */
  readonly outbound_count: number;
  /** When the armed no-reply timer fires (RFC 3339), or null. */
  readonly no_reply_at: string | null;
  /** When that timer was armed (the send that asked for it). */
  readonly no_reply_since: string | null;
  /** When a no-reply timer last fired. */
  readonly last_no_reply_at: string | null;
  /** When a response is due under the SLA policy (RFC 3339), or null when none is awaited. */
  readonly sla_due_at: string | null;
  readonly sla_target: SlaTarget | null;
  /** `sla_due_at` passed without a response. */
  readonly overdue: boolean;
  readonly starred: boolean;
  /** `mem_…` id of the assignee, or null. */
  readonly assigned_to: string | null;
  /** The router connection on a shared line (SMS, iMessage): `active`, `released`, or null when none. */
  readonly connection_status: 'active' | 'released' | null;
}

/** The organization's response targets, ms; null means no target. */
export interface SlaPolicy {
  readonly first_response_ms: number | null;
  readonly next_response_ms: number | null;
}

/** What the reducer needs besides the event: the SLA policy in force and the time of the write. */
export interface ApplyContext {
  readonly sla?: SlaPolicy | null;
  /** RFC 3339; the clock time of the write (SLA deadlines count from it). */
  readonly now?: string;
}

/** The summary of a conversation that has no events yet. */
export function emptySummary(at: string): ConversationSummary {
  return {
    message_count: 0, unread_count: 0, latest_message: null, last_event_at: at, labels: [], archived: false,
    outbound_count: 0, no_reply_at: null, no_reply_since: null, last_no_reply_at: null, sla_due_at: null, sla_target: null, overdue: false,
    starred: false, assigned_to: null, connection_status: null,
  };
}

/**
 * Folds one event into a summary.
 *
 * Rules: a message counts once; an inbound one is unread and brings an archived
 * conversation back to the inbox; the latest message is the one with the newest `at`
 * (ties go to the later event); labels keep first-added order without repeats.
 *
 * Timers: an inbound message cancels the no-reply timer and, when the policy in `ctx`
 * has a target and no response is awaited yet, starts the SLA clock (first response
 * until the conversation has an outbound message, next response after); an outbound
 * message stops the SLA clock (clearing `overdue`) and arms the no-reply timer it
 * carries. `no_reply_expired` and `sla_breached` record that a timer fired.
 *
 * Inbox state: `read` clears the unread count, `unread` sets it; stars and assignment
 * follow their events. These bookkeeping events leave `last_event_at` alone, so reading
 * or assigning a conversation does not move it up the list.
 */
export function applyEvent(s: ConversationSummary, event: EventBody & { readonly at: string }, ctx: ApplyContext = {}): ConversationSummary {
  const last_event_at = maxIso(s.last_event_at, event.at);
  switch (event.type) {
    case 'message': {
      const m = event.data;
      const inbound = m.direction === 'inbound';
      const newer = s.latest_message === null || Date.parse(event.at) >= Date.parse(s.latest_message.at);
      return {
        ...s,
        ...(inbound ? startSla(s, ctx) : { sla_due_at: null, sla_target: null, overdue: false }),
        ...(inbound
          ? { no_reply_at: null, no_reply_since: null }
          : m.no_reply_at ? { no_reply_at: m.no_reply_at, no_reply_since: event.at } : {}),
        outbound_count: s.outbound_count + (inbound ? 0 : 1),
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
    case 'no_reply_expired':
      return { ...s, last_event_at, no_reply_at: null, no_reply_since: null, last_no_reply_at: event.at };
    case 'sla_breached':
      return { ...s, last_event_at, overdue: true };
    case 'read':
      return { ...s, unread_count: 0 };
    case 'unread':
      return { ...s, unread_count: event.data.unread_count };
    case 'starred':
      return { ...s, starred: true };
    case 'unstarred':
      return { ...s, starred: false };
    case 'assigned':
      return { ...s, assigned_to: event.data.assigned_to };
    case 'connection_activated':
      return { ...s, last_event_at, connection_status: 'active' };
    case 'connection_released':
      return { ...s, last_event_at, connection_status: 'released' };
    case 'reaction':
    case 'note':
    case 'call':
    case 'suggestion_created':
    case 'suggestion_sent':
    case 'suggestion_dismissed':
      return { ...s, last_event_at };
  }
}

function startSla(s: ConversationSummary, ctx: ApplyContext): Partial<ConversationSummary> {
  if (s.sla_due_at !== null || !ctx.sla || !ctx.now) return {};
  const target: SlaTarget = s.outbound_count === 0 ? 'first_response' : 'next_response';
  const ms = ctx.sla[target === 'first_response' ? 'first_response_ms' : 'next_response_ms'];
  if (ms === null) return {};
  return { sla_due_at: new Date(Date.parse(ctx.now) + ms).toISOString(), sla_target: target, overdue: false };
}

function maxIso(a: string, b: string): string {
  return Date.parse(b) > Date.parse(a) ? b : a;
}
