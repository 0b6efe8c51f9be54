/**
 * The conversation summary reducer (SPEC section 3, "Projections"): a pure fold over
 * timeline events. Expected summaries are computed independently in the tests.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Direction, EventBody, MediaRef, MessageData, TimelineEvent } from '../../src/domain/events.js';
import { applyEvent, combineSummaries, emptySummary, foldTimeline, type ConversationSummary } from '../../src/domain/projection.js';

type Ev = EventBody & { readonly at: string };

const T0 = '2024-01-01T00:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();

const PNG: MediaRef = { id: 'med_1', filename: 'p.png', content_type: 'image/png', size_bytes: 8, content_id: null, disposition: 'attachment' };

function message(p: { at: string; direction?: Direction; snippet?: string; media?: MediaRef[] }): Ev {
  const data: MessageData = {
    message_id: `msg_${Math.random().toString(36).slice(2)}`,
    direction: p.direction ?? 'inbound',
    channel: 'email',
    account_id: 'acc_1',
    from: { address: 'bob@example.org', name: 'Bob' },
    to: [{ address: 'agent@example.com', name: null }],
    cc: [],
    reply_to: [],
    subject: 'Hello',
    text: p.snippet ?? 'hi',
    html: null,
    snippet: p.snippet ?? 'hi',
    media: p.media ?? [],
    provider_message_id: null,
    status: 'delivered',
    headers: { message_id: null, in_reply_to: null, references: [] },
    sent_at: null,
    parse_problems: [],
  };
  return { type: 'message', at: p.at, data };
}
const labelAdded = (label: string, t: string): Ev => ({ type: 'label_added', at: t, data: { label } });
const labelRemoved = (label: string, t: string): Ev => ({ type: 'label_removed', at: t, data: { label } });
const archived = (t: string): Ev => ({ type: 'archived', at: t, data: {} });
const unarchived = (t: string): Ev => ({ type: 'unarchived', at: t, data: {} });
const status = (t: string): Ev => ({ type: 'message_status', at: t, data: { message_id: 'msg_1', status: 'read', error: null } });

const fold = (events: readonly Ev[], start = emptySummary(T0)) => events.reduce((s, e) => applyEvent(s, e), start);

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

describe('emptySummary', () => {
  it('has no messages, no labels, is not archived, and is dated at creation', () => {
    expect(emptySummary(T0)).toEqual({
      message_count: 0, unread_count: 0, latest_message: null, last_event_at: T0, labels: [], archived: false,
      outbound_count: 0, no_reply_at: null, no_reply_since: null, last_no_reply_at: null, sla_due_at: null, sla_target: null, overdue: false,
      starred: false, assigned_to: null, connection_status: null, connection_id: null,
    });
  });
});

describe('router connection', () => {
  const change = (type: 'connection_activated' | 'connection_released', id: string, t: string): Ev => ({
    type, at: t, data: { connection_id: id, account_id: 'acct_1', counterpart: '+14155550100', reason: type === 'connection_released' ? 'stop' : null, by: null },
  } as Ev);

  it('carries the id of the latest connection activated or released, with its status', () => {
    expect(fold([change('connection_activated', 'conn_a', at(1))])).toMatchObject({ connection_status: 'active', connection_id: 'conn_a' });
    expect(fold([change('connection_activated', 'conn_a', at(1)), change('connection_released', 'conn_a', at(2))]))
      .toMatchObject({ connection_status: 'released', connection_id: 'conn_a' });
    expect(fold([change('connection_activated', 'conn_a', at(1)), change('connection_released', 'conn_a', at(2)), change('connection_activated', 'conn_b', at(3))]))
      .toMatchObject({ connection_status: 'active', connection_id: 'conn_b' });
  });

  it('keeps the survivor\'s connection in a merge, else the merged one\'s', () => {
    const mine = fold([change('connection_activated', 'conn_a', at(1))]);
    const theirs = fold([change('connection_released', 'conn_b', at(1))]);
    expect(combineSummaries(mine, theirs)).toMatchObject({ connection_status: 'active', connection_id: 'conn_a' });
    expect(combineSummaries(fold([]), theirs)).toMatchObject({ connection_status: 'released', connection_id: 'conn_b' });
  });
});

describe('message events', () => {
  it('an inbound message counts, is unread, and becomes the latest message', () => {
    const s = fold([message({ at: at(5), snippet: 'Can we meet?' })]);
    expect(s.message_count).toBe(1);
    expect(s.unread_count).toBe(1);
    expect(s.latest_message).toEqual({ text: 'Can we meet?', at: at(5), direction: 'inbound', has_media: false });
    expect(s.last_event_at).toBe(at(5));
  });

  it('an outbound message counts but is not unread', () => {
    const s = fold([message({ at: at(1) }), message({ at: at(2), direction: 'outbound', snippet: 'Sure.' })]);
    expect(s.message_count).toBe(2);
    expect(s.unread_count).toBe(1);
    expect(s.latest_message).toMatchObject({ text: 'Sure.', direction: 'outbound', at: at(2) });
  });

  it('has_media follows the message\'s attachments', () => {
    expect(fold([message({ at: at(1), media: [PNG] })]).latest_message?.has_media).toBe(true);
    expect(fold([message({ at: at(1), media: [] })]).latest_message?.has_media).toBe(false);
  });

  it('an older message arriving late counts but does not replace the latest preview or move last_event_at back', () => {
    const s = fold([message({ at: at(10), snippet: 'newest' }), message({ at: at(3), snippet: 'imported old one' })]);
    expect(s.message_count).toBe(2);
    expect(s.latest_message?.text).toBe('newest');
    expect(s.last_event_at).toBe(at(10));
  });

  it('of two messages with the same time, the later event is the latest', () => {
    const s = fold([message({ at: at(4), snippet: 'first' }), message({ at: at(4), snippet: 'second' })]);
    expect(s.latest_message?.text).toBe('second');
  });

  it('an inbound message brings an archived conversation back; an outbound one does not', () => {
    expect(fold([archived(at(1)), message({ at: at(2), direction: 'outbound' })]).archived).toBe(true);
    expect(fold([archived(at(1)), message({ at: at(2), direction: 'inbound' })]).archived).toBe(false);
  });

  it('a delivery status update changes only last_event_at', () => {
    const before = fold([message({ at: at(1), snippet: 'x' }), labelAdded('vip', at(2))]);
    const after = applyEvent(before, status(at(9)));
    expect(after).toEqual({ ...before, last_event_at: at(9) });
  });

  it('does not modify the summary it is given', () => {
    const start = deepFreeze(fold([message({ at: at(1) }), labelAdded('a', at(2))]));
    const snapshot = structuredClone(start);
    for (const e of [message({ at: at(3) }), labelAdded('b', at(4)), labelRemoved('a', at(5)), archived(at(6)), unarchived(at(7)), status(at(8))]) {
      applyEvent(start, e);
    }
    expect(start).toEqual(snapshot);
  });
});

describe('labels', () => {
  it('adding a label twice keeps it once', () => {
    const s = fold([labelAdded('urgent', at(1)), labelAdded('urgent', at(2))]);
    expect(s.labels).toEqual(['urgent']);
    expect(s.last_event_at).toBe(at(2));
  });

  it('removing a label that is not there changes nothing but last_event_at', () => {
    const before = fold([labelAdded('a', at(1))]);
    expect(applyEvent(before, labelRemoved('b', at(2)))).toEqual({ ...before, last_event_at: at(2) });
  });

  it('keeps labels in the order they were added', () => {
    expect(fold([labelAdded('b', at(1)), labelAdded('a', at(2)), labelAdded('c', at(3))]).labels).toEqual(['b', 'a', 'c']);
  });

  it('a removed label can be added again', () => {
    expect(fold([labelAdded('a', at(1)), labelRemoved('a', at(2)), labelAdded('a', at(3))]).labels).toEqual(['a']);
  });
});

describe('archive', () => {
  it('archived and unarchived set the flag, repeatedly', () => {
    expect(fold([archived(at(1))]).archived).toBe(true);
    expect(fold([archived(at(1)), archived(at(2))]).archived).toBe(true);
    expect(fold([archived(at(1)), unarchived(at(2))]).archived).toBe(false);
    expect(fold([unarchived(at(1))]).archived).toBe(false);
  });
});

describe('properties over random timelines', () => {
  const label = fc.constantFrom('urgent', 'vip', 'billing', 'Urgent', 'a b', '');
  const event: fc.Arbitrary<Ev> = fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.nat({ max: 6 }), label, fc.constantFrom<Direction>('inbound', 'outbound'), fc.boolean(), fc.string({ maxLength: 20 }))
    .map(([m, kind, l, direction, media, snippet]) => {
      const t = at(m);
      switch (kind) {
        case 0: return message({ at: t, direction, snippet, media: media ? [PNG] : [] });
        case 1: return labelAdded(l, t);
        case 2: return labelRemoved(l, t);
        case 3: return archived(t);
        case 4: return unarchived(t);
        case 5: return status(t);
        default: return labelAdded(l, t);
      }
    });
  const timeline = fc.array(event, { maxLength: 60 });

  it('property: labels are the set of labels whose last add/remove was an add, each once, ordered by when it was (re)added', () => {
    fc.assert(fc.property(timeline, (events) => {
      // Independent model: for each label, the index of the add that made it present.
      const presentSince = new Map<string, number>();
      events.forEach((e, i) => {
        if (e.type === 'label_added' && !presentSince.has(e.data.label)) presentSince.set(e.data.label, i);
        if (e.type === 'label_removed') presentSince.delete(e.data.label);
      });
      const expected = [...presentSince.entries()].sort((a, b) => a[1] - b[1]).map(([l]) => l);
      const s = fold(events);
      expect(s.labels).toEqual(expected);
      expect(new Set(s.labels).size).toBe(s.labels.length);
    }), { numRuns: 500 });
  });

  it('property: label events are idempotent (applying any one of them twice in a row equals once)', () => {
    fc.assert(fc.property(timeline, fc.nat(), (events, k) => {
      const labelEvents = events.filter((e) => e.type === 'label_added' || e.type === 'label_removed');
      if (labelEvents.length === 0) return;
      const i = events.indexOf(labelEvents[k % labelEvents.length]!);
      const doubled = [...events.slice(0, i + 1), events[i]!, ...events.slice(i + 1)];
      expect(fold(doubled).labels).toEqual(fold(events).labels);
    }));
  });

  it('property: counts, latest message, last_event_at and archived match the timeline', () => {
    fc.assert(fc.property(timeline, (events) => {
      const s = fold(events);
      const messages = events.filter((e): e is Extract<Ev, { type: 'message' }> => e.type === 'message');
      expect(s.message_count).toBe(messages.length);
      expect(s.unread_count).toBe(messages.filter((m) => m.data.direction === 'inbound').length);

      const times = [T0, ...events.map((e) => e.at)].map((t) => Date.parse(t));
      expect(Date.parse(s.last_event_at)).toBe(Math.max(...times));

      if (messages.length === 0) {
        expect(s.latest_message).toBeNull();
      } else {
        const newest = Math.max(...messages.map((m) => Date.parse(m.at)));
        const latest = messages.filter((m) => Date.parse(m.at) === newest).at(-1)!;
        expect(s.latest_message).toEqual({
          text: latest.data.snippet, at: latest.at, direction: latest.data.direction, has_media: latest.data.media.length > 0,
        });
      }

      let expectArchived = false;
      for (const e of events) {
        if (e.type === 'archived') expectArchived = true;
        if (e.type === 'unarchived') expectArchived = false;
        if (e.type === 'message' && e.data.direction === 'inbound') expectArchived = false;
      }
      expect(s.archived).toBe(expectArchived);
    }), { numRuns: 500 });
  });

  it('property: folding in two halves equals folding at once', () => {
    fc.assert(fc.property(timeline, fc.nat(), (events, k) => {
      const cut = events.length === 0 ? 0 : k % (events.length + 1);
      const half: ConversationSummary = fold(events.slice(0, cut));
      expect(fold(events.slice(cut), half)).toEqual(fold(events));
    }));
  });
});

describe('timers', () => {
  const sla = { first_response_ms: 60 * 60_000, next_response_ms: 10 * 60_000 };
  const withTimer = (t: string, noReplyAt: string): Ev => {
    const m = message({ at: t, direction: 'outbound' });
    return { ...m, data: { ...(m as any).data, no_reply_at: noReplyAt } } as Ev;
  };

  it('an inbound message starts the first-response clock once; a reply stops it; the next one is next-response', () => {
    let s = applyEvent(emptySummary(T0), message({ at: at(0) }), { sla, now: at(0) });
    expect(s).toMatchObject({ sla_due_at: at(60), sla_target: 'first_response', overdue: false });
    s = applyEvent(s, message({ at: at(5) }), { sla, now: at(5) });
    expect(s.sla_due_at).toBe(at(60));
    s = applyEvent(s, { type: 'sla_breached', at: at(61), data: { target: 'first_response', due_at: at(60) } });
    expect(s.overdue).toBe(true);
    s = applyEvent(s, message({ at: at(70), direction: 'outbound' }), { sla, now: at(70) });
    expect(s).toMatchObject({ sla_due_at: null, sla_target: null, overdue: false, outbound_count: 1 });
    s = applyEvent(s, message({ at: at(80) }), { sla, now: at(80) });
    expect(s).toMatchObject({ sla_due_at: at(90), sla_target: 'next_response' });
  });

  it('without a policy (imports) or a target, no clock starts', () => {
    expect(applyEvent(emptySummary(T0), message({ at: at(0) })).sla_due_at).toBeNull();
    const s = applyEvent(emptySummary(T0), message({ at: at(0) }), { sla: { first_response_ms: null, next_response_ms: 5 }, now: at(0) });
    expect(s.sla_due_at).toBeNull();
  });

  it('a send arms the no-reply timer, an inbound message cancels it, expiry records when', () => {
    let s = applyEvent(emptySummary(T0), withTimer(at(0), at(30)));
    expect(s).toMatchObject({ no_reply_at: at(30), no_reply_since: at(0) });
    s = applyEvent(s, message({ at: at(1), direction: 'outbound' }));
    expect(s.no_reply_at).toBe(at(30));
    expect(applyEvent(s, message({ at: at(2) }))).toMatchObject({ no_reply_at: null, no_reply_since: null });
    s = applyEvent(s, { type: 'no_reply_expired', at: at(31), data: { waited_ms: 31 * 60_000, no_reply_at: at(30) } });
    expect(s).toMatchObject({ no_reply_at: null, last_no_reply_at: at(31) });
  });
});

describe('combineSummaries (a merged conversation joining its survivor, docs/api.md "Merged conversations")', () => {
  const by = { member_id: null, key_id: 'key_1' };
  const half = (events: readonly Ev[]) => fold(events);

  it('sums messages, unread and outbound counts: each half\'s unread messages stay unread', () => {
    const a = half([message({ at: at(1) }), message({ at: at(2) }), message({ at: at(3), direction: 'outbound' })]);
    const b = half([message({ at: at(4) }), { type: 'read', at: at(5), data: { updated_count: 1, by } }, message({ at: at(6) })]);
    const c = combineSummaries(a, b);
    expect(c.message_count).toBe(5);
    expect(c.unread_count).toBe(a.unread_count + b.unread_count);
    expect(c.unread_count).toBe(3);
    expect(c.outbound_count).toBe(1);
  });

  it('keeps the newer latest message and the later last_event_at, whichever half holds them', () => {
    const a = half([message({ at: at(10), snippet: 'newer' })]);
    const b = half([message({ at: at(5), snippet: 'older' })]);
    expect(combineSummaries(a, b).latest_message?.text).toBe('newer');
    expect(combineSummaries(b, a).latest_message?.text).toBe('newer');
    expect(combineSummaries(b, a).last_event_at).toBe(at(10));
  });

  it('unites labels (the survivor\'s first), stars if either was, archives only if both were', () => {
    const a = half([message({ at: at(1) }), labelAdded('x', at(2)), archived(at(3))]);
    const b = half([message({ at: at(1) }), labelAdded('y', at(2)), labelAdded('x', at(2)), { type: 'starred', at: at(3), data: { by } }]);
    const c = combineSummaries(a, b);
    expect(c.labels).toEqual(['x', 'y']);
    expect(c.starred).toBe(true);
    expect(c.archived).toBe(false);
    expect(combineSummaries(a, half([archived(at(4))])).archived).toBe(true);
  });

  it('keeps the survivor\'s assignee, else the merged one\'s', () => {
    const mine = half([{ type: 'assigned', at: at(1), data: { assigned_to: 'mem_a', by } }]);
    const theirs = half([{ type: 'assigned', at: at(1), data: { assigned_to: 'mem_b', by } }]);
    const none = half([]);
    expect(combineSummaries(mine, theirs).assigned_to).toBe('mem_a');
    expect(combineSummaries(none, theirs).assigned_to).toBe('mem_b');
  });

  it('cancels a no-reply timer when the reply arrived in the other half, and keeps it otherwise', () => {
    const sent = half([{ ...message({ at: at(10), direction: 'outbound' }), data: { ...message({ at: at(10), direction: 'outbound' }).data as MessageData, no_reply_at: at(100) } } as Ev]);
    expect(sent.no_reply_at).toBe(at(100));
    const reply = half([message({ at: at(20) })]);
    const older = half([message({ at: at(5) })]);
    expect(combineSummaries(sent, reply).no_reply_at).toBeNull();
    expect(combineSummaries(reply, sent).no_reply_at).toBeNull();
    expect(combineSummaries(sent, older).no_reply_at).toBe(at(100));
  });

  it('takes the earlier SLA deadline, and is overdue if either half was', () => {
    const sla = { first_response_ms: 60_000, next_response_ms: 60_000 };
    const a = applyEvent(emptySummary(T0), message({ at: at(1) }), { sla, now: at(1) });
    const b = applyEvent(emptySummary(T0), message({ at: at(3) }), { sla, now: at(3) });
    expect(combineSummaries(b, a).sla_due_at).toBe(a.sla_due_at);
    const breached = applyEvent(b, { type: 'sla_breached', at: at(5), data: { target: 'first_response', due_at: b.sla_due_at! } });
    expect(combineSummaries(a, breached).overdue).toBe(true);
  });
});

describe('foldTimeline', () => {
  const by = { member_id: null, key_id: 'key_1' };
  let seq = 0;
  const ev = (conversation: string, body: Ev) => ({ ...body, id: `evt_${++seq}`, seq, conversation_id: conversation }) as TimelineEvent;
  const merged = (from: string, into: string, t: string) => ev(from, { type: 'merged', at: t, data: { into, reason: 'threading', by: null } });

  it('folds each conversation on its own and joins a merged one into its survivor at the merged event', () => {
    const events = [
      ev('conv_a', message({ at: at(1) })),
      ev('conv_b', message({ at: at(2) })),
      ev('conv_b', { type: 'read', at: at(3), data: { updated_count: 1, by } }),
      ev('conv_a', message({ at: at(4) })),
      merged('conv_b', 'conv_a', at(5)),
      ev('conv_a', message({ at: at(6) })),
    ];
    const out = foldTimeline(events);
    // b's read cleared only b's message: a's two and the one after the merge stay unread.
    expect(out.get('conv_a')?.unread_count).toBe(3);
    expect(out.get('conv_a')?.message_count).toBe(4);
  });

  it('property: a fold of the whole timeline equals the summaries kept event by event, merges (and chains of them) included', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('event' as const), conversation: fc.nat(4), event: fc.nat(7), minute: fc.nat(600) }),
      fc.record({ kind: fc.constant('merge' as const), a: fc.nat(4), b: fc.nat(4), minute: fc.nat(600) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const ids = ['conv_0', 'conv_1', 'conv_2', 'conv_3', 'conv_4'];
      const kept = new Map<string, ConversationSummary>();
      const into = new Map<string, string>();
      const live = (id: string): string => (into.has(id) ? live(into.get(id)!) : id);
      const events: TimelineEvent[] = [];
      const append = (conversation: string, body: Ev) => {
        const e = ev(conversation, body);
        events.push(e);
        kept.set(conversation, applyEvent(kept.get(conversation) ?? emptySummary(body.at), body));
      };
      const bodies = (t: string): Ev[] => [
        message({ at: t }), message({ at: t, direction: 'outbound' }), labelAdded('a', t), labelRemoved('a', t),
        archived(t), { type: 'read', at: t, data: { updated_count: 0, by } }, { type: 'starred', at: t, data: { by } },
        { type: 'assigned', at: t, data: { assigned_to: 'mem_x', by } },
      ];
      for (const o of ops) {
        if (o.kind === 'event') {
          const c = live(ids[o.conversation]!);
          const body = bodies(at(o.minute))[o.event]!;
          // `read` clears what is unread at the time, as services/inbox.ts writes it.
          append(c, body.type === 'read' ? { ...body, data: { ...body.data, updated_count: kept.get(c)?.unread_count ?? 0 } } : body);
        } else {
          const [x, y] = [live(ids[o.a]!), live(ids[o.b]!)].sort() as [string, string];
          if (x === y || !kept.has(x) || !kept.has(y)) continue;
          // The store's way: join the summaries, then the merged one's own event.
          kept.set(x, combineSummaries(kept.get(x)!, kept.get(y)!));
          append(y, { type: 'merged', at: at(o.minute), data: { into: x, reason: 'manual', by } });
          into.set(y, x);
        }
      }
      const folded = foldTimeline(events);
      for (const id of ids) if (!into.has(id) && kept.has(id)) expect(folded.get(id)).toEqual(kept.get(id));
    }), { numRuns: 300 });
  });
});
