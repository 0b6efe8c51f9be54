/**
 * The shared feed reader serves subscribers exactly what a direct store read returns,
 * whatever their position (inside the in-memory tail, behind it, ahead of it), filter
 * and page size, while events keep committing and the tail overflows.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveFeed } from '../../src/services/live-feed.js';
import { listOrgEventsAfter } from '../../src/store/timeline.js';
import type { EventType } from '../../src/domain/events.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
const convs: string[] = [];
beforeAll(async () => {
  h = await harness();
  await identityWithMailbox(h, 'feed@shop.test', 'feed');
  for (const n of [1, 2]) {
    const res = await inbound(h, rawEmail({ from: `p${n}@x.test`, to: 'feed@shop.test', messageId: `feed${n}@x.test` }));
    convs.push(res.body.results[0].conversation_id);
  }
});
afterAll(async () => { await h.close(); });

describe('live feed', () => {
  it('reads the same events as the store, from any position, with any filter', async () => {
    const feed = new LiveFeed(h.store, { tailEvents: 6 });
    let wakes = 0;
    const sub = feed.subscribe(h.orgId, () => { wakes++; });
    let labels = 0;
    await fc.assert(fc.asyncProperty(
      fc.nat(4), fc.nat(3), fc.integer({ min: 1, max: 8 }),
      fc.constantFrom<readonly EventType[] | undefined>(undefined, ['label_added'], ['message', 'label_removed']),
      fc.option(fc.nat(1), { nil: undefined }),
      async (appends, back, limit, types, convIndex) => {
        for (let i = 0; i < appends; i++) {
          const conv = convs[(labels + i) % 2]!;
          await h.request('POST', `/v1/conversations/${conv}/labels`, { labels: [`l${labels++}`] });
        }
        const last = (await listOrgEventsAfter(h.store.db, { orgId: h.orgId, afterSeq: 0, limit: 100_000 })).at(-1)!.seq;
        const conversationId = convIndex === undefined ? undefined : convs[convIndex];
        // positions behind the tail, inside it and at or past its head
        for (const after of [0, Math.max(0, last - back), Math.max(0, last - 9 - back), last, last + 3]) {
          const got = await sub.read(after, limit, { types, conversationId });
          const want = await listOrgEventsAfter(h.store.db, { orgId: h.orgId, afterSeq: after, limit, types, conversationId });
          expect(got.items.map((i) => i.event)).toEqual(want);
          expect(got.items.every((i) => JSON.parse(i.json).seq === i.event.seq)).toBe(true);
          // `through` never skips an event that matches and is not returned
          const skipped = await listOrgEventsAfter(h.store.db, { orgId: h.orgId, afterSeq: got.items.at(-1)?.event.seq ?? after, limit: 100_000, types, conversationId });
          expect(skipped.filter((e) => e.seq <= got.through)).toEqual([]);
          expect(got.through).toBeGreaterThanOrEqual(after);
        }
      },
    ), { numRuns: 25 });
    expect(wakes).toBeGreaterThan(0);
    sub.close();
  });

  it('wakes every subscriber of the organization on each commit, and no one after close', async () => {
    const feed = new LiveFeed(h.store);
    const woken = [0, 0, 0];
    const subs = woken.map((_, i) => feed.subscribe(h.orgId, () => { woken[i]!++; }));
    await h.request('POST', `/v1/conversations/${convs[0]}/labels`, { labels: ['wake'] });
    // at least once each (PostgreSQL also wakes again when its own NOTIFY comes back)
    await expect.poll(() => Math.min(...woken)).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 100));
    subs[0]!.close();
    const before = [...woken];
    await h.request('POST', `/v1/conversations/${convs[0]}/labels`, { labels: ['wake2'] });
    await expect.poll(() => woken[2]).toBeGreaterThan(before[2]!);
    expect(woken[1]).toBeGreaterThan(before[1]!);
    expect(woken[0]).toBe(before[0]);
    for (const s of subs.slice(1)) s.close();
  });
});
