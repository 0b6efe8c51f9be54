/**
 * Auto-pagination: the iterator yields every item of a keyset-paged list exactly once,
 * in order, across page boundaries: as a property over any list and page size, and
 * against the real server over 1,000 conversations.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Paginator, type Page } from '../src/index.js';
import { keysetPaginator } from '../src/pagination.js';
import { eachLimited, identityWithMailbox, receiveMail, sdkServer, type SdkServer } from './fixture.js';

/** A keyset-paged list in memory: the cursor is the last id returned. */
function memoryList(items: readonly number[], limit: number, timelineStyle: boolean) {
  const reads: (string | undefined)[] = [];
  const read = async (cursor: string | undefined): Promise<Page<number>> => {
    reads.push(cursor);
    const start = cursor === undefined ? 0 : items.indexOf(Number(cursor)) + 1;
    const data = items.slice(start, start + limit);
    const hasMore = start + limit < items.length;
    // A timeline read oldest first also gives its last page a cursor, with has_more false.
    const last = data.at(-1);
    return { data, has_more: hasMore, next_cursor: hasMore || (timelineStyle && last !== undefined) ? String(last) : null };
  };
  return { read, reads };
}

describe('Paginator', () => {
  it('yields every item once, in order, for any list and page size', async () => {
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(fc.nat(), { maxLength: 60 }), fc.integer({ min: 1, max: 12 }), fc.boolean(),
      async (items, limit, timelineStyle) => {
        const list = memoryList(items, limit, timelineStyle);
        const seen: number[] = [];
        for await (const item of keysetPaginator(list.read)) seen.push(item);
        expect(seen).toEqual(items);
        expect(list.reads.length).toBe(Math.max(1, Math.ceil(items.length / limit)));
      },
    ));
  });

  it('starts at a given cursor, and .page() reads one page only', async () => {
    const list = memoryList([1, 2, 3, 4, 5], 2, false);
    expect(await keysetPaginator(list.read, '2').toArray()).toEqual([3, 4, 5]);
    expect((await keysetPaginator(list.read).page()).data).toEqual([1, 2]);
    expect(await keysetPaginator(list.read).toArray(3)).toEqual([1, 2, 3]);
  });

  it('stops when a server answers the same cursor again', async () => {
    const stuck = new Paginator<number, Page<number>>(async () => ({ data: [1], next_cursor: 'same', has_more: true }), (p) => p.next_cursor ?? undefined, 'same');
    expect(await stuck.toArray()).toEqual([1]);
  });
});

describe('conversations.list against the server', () => {
  const COUNT = 1_000;
  let s: SdkServer;
  let created: Set<string>;

  beforeAll(async () => {
    s = await sdkServer({ rateLimitRequests: 0 });
    await identityWithMailbox(s.sb, 'inbox@pages.test');
    const ids: string[] = [];
    await eachLimited(Array.from({ length: COUNT }, (_, i) => i), 8, async (i) => {
      ids.push(await receiveMail(s.sb, `person${i}@people.test`, 'inbox@pages.test', `Thread ${i}`));
    });
    created = new Set(ids);
    expect(created.size).toBe(COUNT);
  }, 180_000);
  afterAll(async () => { await s?.close(); });

  it(`iterates all ${COUNT} conversations exactly once across pages, newest activity first`, async () => {
    const seen: string[] = [];
    let pages = 0;
    for await (const page of s.sb.conversations.list({ limit: 37 }).pages()) {
      pages += 1;
      seen.push(...page.data.map((c) => c.id));
    }
    expect(pages).toBe(Math.ceil(COUNT / 37));
    expect(seen.length).toBe(COUNT);
    expect(new Set(seen)).toEqual(created);
    // The same order as the biggest pages the server gives.
    const big: string[] = [];
    for await (const c of s.sb.conversations.list({ limit: 200 })) big.push(c.id);
    expect(seen).toEqual(big);
  });

  it('keeps walking from where it is when new conversations arrive meanwhile', async () => {
    const seen: string[] = [];
    let injected = false;
    for await (const c of s.sb.conversations.list({ limit: 50 })) {
      seen.push(c.id);
      if (!injected && seen.length === 120) {
        injected = true;
        await receiveMail(s.sb, 'late@people.test', 'inbox@pages.test', 'Late');
      }
    }
    // Keyset pages never skip or repeat: the newcomer sorts before the cursor and is not seen.
    expect(seen.length).toBe(COUNT);
    expect(new Set(seen)).toEqual(created);
  });
});
