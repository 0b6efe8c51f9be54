/**
 * Inbox commands on one conversation (SPEC section 6): read state, stars, assignment,
 * notes and calls. Each runs in one transaction under the organization's write lock,
 * appends the events that change something (a repeated command appends nothing) and
 * returns the conversation after it.
 */
import { isoNow, systemClock, type Clock } from '../clock.js';
import type { Actor, CallData, EventBody } from '../domain/events.js';
import { AppError, notFound } from '../errors.js';
import { isId, newId } from '../ids.js';
import { findConversation } from '../store/conversations.js';
import { findMember } from '../store/members.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Db, Store } from '../store/store.js';
import { appendEvents, summaryOf, type ConversationRow } from '../store/timeline.js';
import type { ConversationSummary } from '../domain/projection.js';
import type { TimelineEvent } from '../domain/events.js';

type Timed = EventBody & { at: string };

/** What a command decides from the current row: the events to append (none for a no-op). */
type Decide<R> = (row: ConversationRow, summary: ConversationSummary, db: Db, at: string) => Promise<{ events: Timed[]; result: R }> | { events: Timed[]; result: R };

/**
 * Runs a command on a conversation of the org. `at` (the events' time) is read from the
 * clock after the organization's write lock is taken, so events of concurrent commands
 * are dated in the order they commit and a timeline reader resuming from a cursor
 * misses none of them.
 *
 * @returns the row after the command, the events appended and the command's result.
 * @throws AppError `not_found` when the conversation is not the org's.
 */
export async function runCommand<R>(
  store: Store, orgId: string, id: string, clock: Clock, decide: Decide<R>,
): Promise<{ conversation: ConversationRow; events: TimelineEvent[]; result: R }> {
  return inOrgTransaction(store, orgId, async (tx) => {
    const row = await findConversation(tx, orgId, id);
    if (!row) throw notFound('conversation');
    const { events, result } = await decide(row, summaryOf(row), tx, isoNow(clock));
    const appended = await appendEvents(tx, row, events);
    return { conversation: appended.conversation, events: appended.events, result };
  });
}

/**
 * Marks every inbound message read (`read`, with the count it cleared).
 *
 * @returns `updated_count`: how many unread messages this cleared (0 when none were).
 */
export async function markRead(store: Store, orgId: string, id: string, by: Actor, clock: Clock = systemClock) {
  return runCommand(store, orgId, id, clock, (_row, s, _db, at) => ({
    events: s.unread_count > 0 ? [{ type: 'read', at, data: { updated_count: s.unread_count, by } }] : [],
    result: { updated_count: s.unread_count },
  }));
}

/**
 * Assigns the conversation to a member of the org, or unassigns it (`memberId` null).
 *
 * @throws AppError `not_a_member` (param `assigned_to`) for an id that is not a member of the org.
 */
export async function assign(store: Store, orgId: string, id: string, memberId: string | null, by: Actor, clock: Clock = systemClock) {
  return runCommand(store, orgId, id, clock, async (_row, s, db, at) => {
    if (memberId !== null && !(isId('mem', memberId) && await findMember(db, orgId, memberId))) {
      throw new AppError('not_a_member', `${memberId} is not a member of this organization.`, { param: 'assigned_to' });
    }
    return { events: s.assigned_to === memberId ? [] : [{ type: 'assigned', at, data: { assigned_to: memberId, by } }], result: null };
  });
}

/** Adds an internal note (never sent). @returns the `note` event. */
export async function addNote(store: Store, orgId: string, id: string, text: string, author: Actor, clock: Clock = systemClock) {
  const out = await runCommand(store, orgId, id, clock, (_row, _s, _db, at) => ({
    events: [{ type: 'note', at, data: { note_id: newId('note'), text, author } }], result: null,
  }));
  return out.events[0] as TimelineEvent & { type: 'note' };
}

export type NewCall = Omit<CallData, 'call_id' | 'logged_by' | 'started_at'> & { readonly started_at: string | null };

/** Logs a call; the event is dated at the call's start (now when not given). @returns the `call` event. */
export async function logCall(store: Store, orgId: string, id: string, call: NewCall, by: Actor, clock: Clock = systemClock) {
  const out = await runCommand(store, orgId, id, clock, (_row, _s, _db, now) => {
    const at = call.started_at ?? now;
    return { events: [{ type: 'call', at, data: { call_id: newId('call'), ...call, started_at: at, logged_by: by } }], result: null };
  });
  return out.events[0] as TimelineEvent & { type: 'call' };
}
