/**
 * Durable timers (SPEC section 3): the no-reply timer a send arms and the SLA deadline
 * an inbound message starts. Each armed timer is a row of `timers`, written with the
 * event that armed it (store/timeline.ts); a sweeper on every node claims due rows and
 * fires them.
 *
 * Claiming is a short transaction that leases up to a batch of due rows (PostgreSQL:
 * `FOR UPDATE SKIP LOCKED`, so nodes sweeping together take different rows and never
 * wait for each other). Firing then runs under the organization's write lock and checks
 * the conversation again: a timer cancelled or re-armed meanwhile does nothing, and one
 * that fires deletes its row in the same transaction as its event, so it fires once
 * even if a lease ran out and two nodes got that far. A node that dies holding a lease
 * leaves the row to be claimed again when the lease ends.
 */
import type { Clock } from '../clock.js';
import type { EventBody } from '../domain/events.js';
import { findConversationRow } from '../store/conversations.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import { appendEvents, type TimerKind } from '../store/timeline.js';

/** How long a claimed timer stays with its claimer before others may take it, ms. */
export const TIMER_LEASE_MS = 60_000;
const BATCH = 100;

interface Claimed {
  readonly conversation_id: string;
  readonly kind: TimerKind;
  readonly org_id: string;
}

/** Leases up to `limit` timers due at `now` (RFC 3339) until `until`. */
async function claimDueTimers(store: Store, now: string, until: string, limit: number): Promise<Claimed[]> {
  return store.transaction(async (tx) => {
    let q = tx.selectFrom('timers').select(['conversation_id', 'kind', 'org_id'])
      .where('due_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', now)]))
      .orderBy('due_at').limit(limit);
    if (store.dialect === 'postgres') q = q.forUpdate().skipLocked();
    const rows = (await q.execute()) as Claimed[];
    for (const r of rows) {
      await tx.updateTable('timers').set({ claimed_until: until })
        .where('conversation_id', '=', r.conversation_id).where('kind', '=', r.kind).execute();
    }
    return rows;
  });
}

/** Fires one claimed timer if it is still due; returns whether an event was appended. */
async function fire(store: Store, t: Claimed, clock: Clock): Promise<boolean> {
  return inOrgTransaction(store, t.org_id, async (tx) => {
    const nowMs = clock.now();
    const now = new Date(nowMs).toISOString();
    // The timer's own row: a merged conversation's timers were disarmed by its `merged` event.
    const conversation = await findConversationRow(tx, t.org_id, t.conversation_id);
    let event: (EventBody & { at: string }) | null = null;
    if (conversation && t.kind === 'no_reply' && conversation.no_reply_at !== null && conversation.no_reply_at <= now) {
      const since = Date.parse(conversation.no_reply_since ?? conversation.no_reply_at);
      event = { type: 'no_reply_expired', at: now, data: { waited_ms: Math.max(0, nowMs - since), no_reply_at: conversation.no_reply_at } };
    } else if (conversation && t.kind === 'sla' && conversation.sla_due_at !== null && conversation.overdue === 0 && conversation.sla_due_at <= now) {
      const target = conversation.sla_target === 'next_response' ? 'next_response' : 'first_response';
      event = { type: 'sla_breached', at: now, data: { target, due_at: conversation.sla_due_at } };
    }
    if (conversation && event) {
      await appendEvents(tx, conversation, [event]); // its summary disarms the timer: the row goes
      return true;
    }
    // Not due any more (re-armed later, or its conversation is gone): drop a stale row.
    await tx.deleteFrom('timers').where('conversation_id', '=', t.conversation_id).where('kind', '=', t.kind)
      .where('due_at', '<=', now).execute();
    return false;
  });
}

/**
 * Fires every timer due at `clock.now()`.
 *
 * @returns how many events were appended.
 */
export async function fireDueTimers(store: Store, clock: Clock): Promise<number> {
  let fired = 0;
  for (;;) {
    const now = clock.now();
    const claimed = await claimDueTimers(store, new Date(now).toISOString(), new Date(now + TIMER_LEASE_MS).toISOString(), BATCH);
    for (const t of claimed) if (await fire(store, t, clock)) fired++;
    if (claimed.length < BATCH) return fired;
  }
}
