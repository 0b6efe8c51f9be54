/**
 * The conversation summary: a pure reducer over timeline events (SPEC section 3).
 * The store applies it to the stored summary in the same transaction that appends the
 * event, so reads never scan the timeline.
 */
import type { Direction, EventBody, SlaTarget, TimelineEvent } from './events.js';

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
  /** That connection's id (`conn_…`; Inkbox `assignment_id`): the latest activated or released in this conversation, or null. */
  readonly connection_id: string | null;
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
    starred: false, assigned_to: null, connection_status: null, connection_id: null,
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
        // An inbound message answers the send that armed the no-reply timer; an
        // auto-reply does not, unless its mailbox says so (it has no `keeps_no_reply`).
        ...(inbound
          ? (m.keeps_no_reply ? {} : { no_reply_at: null, no_reply_since: null })
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
      return { ...s, last_event_at, connection_status: 'active', connection_id: event.data.connection_id };
    case 'connection_released':
      return { ...s, last_event_at, connection_status: 'released', connection_id: event.data.connection_id };
    case 'merged':
      // The merged conversation's own clocks stop; its summary lives on in `into`'s
      // (combineSummaries), and bookkeeping does not move it in the list.
      return { ...s, no_reply_at: null, no_reply_since: null, sla_due_at: null, sla_target: null, overdue: false };
    case 'reaction':
    case 'note':
    case 'call':
    case 'suggestion_created':
    case 'suggestion_sent':
    case 'suggestion_dismissed':
      return { ...s, last_event_at };
  }
}

/**
 * The summary of `survivor` after `merged` became part of it (docs/api.md, "Merged
 * conversations"): what a fold of both timelines gives when each is folded on its own
 * up to the `merged` event and the two results are joined there.
 *
 * - counts are summed: messages, unread (each half's unread messages stay unread) and
 *   outbound;
 * - the latest message is the newer one (the survivor's on a tie), `last_event_at` the
 *   later, `last_no_reply_at` the later;
 * - labels are the union (the survivor's first); archived only if both were; starred if
 *   either was; the assignee and the router connection are the survivor's, else the
 *   merged one's;
 * - a half's armed no-reply timer is kept unless the other half's latest message is an
 *   inbound one no older than the send that armed it (the reply came in the other
 *   half); of two kept, the later send's;
 * - the SLA clock: the earlier deadline of the halves awaiting a response, with its
 *   target; overdue if either half was.
 */
export function combineSummaries(survivor: ConversationSummary, merged: ConversationSummary): ConversationSummary {
  const a = survivor;
  const b = merged;
  const latest = a.latest_message === null ? b.latest_message
    : b.latest_message === null ? a.latest_message
    : Date.parse(b.latest_message.at) > Date.parse(a.latest_message.at) ? b.latest_message : a.latest_message;
  const noReply = [keptNoReply(a, b), keptNoReply(b, a)]
    .filter((x): x is { at: string; since: string } => x !== null)
    .reduce<{ at: string; since: string } | null>((best, x) => (best === null || Date.parse(x.since) > Date.parse(best.since) ? x : best), null);
  const sla = [a, b].filter((x) => x.sla_due_at !== null)
    .reduce<ConversationSummary | null>((best, x) => (best === null || Date.parse(x.sla_due_at!) < Date.parse(best.sla_due_at!) ? x : best), null);
  return {
    message_count: a.message_count + b.message_count,
    unread_count: a.unread_count + b.unread_count,
    outbound_count: a.outbound_count + b.outbound_count,
    latest_message: latest,
    last_event_at: maxIso(a.last_event_at, b.last_event_at),
    last_no_reply_at: a.last_no_reply_at === null ? b.last_no_reply_at
      : b.last_no_reply_at === null ? a.last_no_reply_at : maxIso(a.last_no_reply_at, b.last_no_reply_at),
    labels: [...new Set([...a.labels, ...b.labels])],
    archived: a.archived && b.archived,
    starred: a.starred || b.starred,
    assigned_to: a.assigned_to ?? b.assigned_to,
    connection_status: a.connection_status ?? b.connection_status,
    connection_id: a.connection_status !== null ? a.connection_id : b.connection_id,
    no_reply_at: noReply?.at ?? null,
    no_reply_since: noReply?.since ?? null,
    sla_due_at: sla?.sla_due_at ?? null,
    sla_target: sla?.sla_target ?? null,
    overdue: a.overdue || b.overdue,
  };
}

/** `half`'s armed no-reply timer, unless `other` holds a reply to the send that armed it. */
function keptNoReply(half: ConversationSummary, other: ConversationSummary): { at: string; since: string } | null {
  if (half.no_reply_at === null) return null;
  const since = half.no_reply_since ?? half.no_reply_at;
  const reply = other.latest_message;
  if (reply !== null && reply.direction === 'inbound' && Date.parse(reply.at) >= Date.parse(since)) return null;
  return { at: half.no_reply_at, since };
}

/**
 * Folds a timeline from scratch: the summary of every conversation the events belong to,
 * the way the store keeps them event by event. Events are taken in `seq` (commit) order,
 * each conversation's on its own summary; a `merged` event joins its conversation's
 * summary into `into`'s ({@link combineSummaries}) and then stops its clocks. Give it
 * the events of a conversation and of every conversation merged into it, and its entry
 * for that conversation is the summary the store holds (SLA deadlines aside: they count
 * from the clock time of each write, which `ctxOf` may supply).
 *
 * @param ctxOf the SLA policy and clock time each event was written under (none by default).
 * @returns summary per conversation id.
 */
export function foldTimeline(
  events: readonly TimelineEvent[], ctxOf: (e: TimelineEvent) => ApplyContext = () => ({}),
): Map<string, ConversationSummary> {
  const out = new Map<string, ConversationSummary>();
  for (const e of [...events].sort((x, y) => x.seq - y.seq)) {
    const s = out.get(e.conversation_id) ?? emptySummary(e.at);
    if (e.type === 'merged') {
      const into = out.get(e.data.into) ?? emptySummary(e.at);
      out.set(e.data.into, combineSummaries(into, s));
    }
    out.set(e.conversation_id, applyEvent(s, e, ctxOf(e)));
  }
  return out;
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
