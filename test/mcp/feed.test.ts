/**
 * Finding the end of the change feed by probing (mcp/feed.ts `feedHead`), against a fake
 * feed answering as `GET /v1/events` does: `409 cursor_ahead` past the latest event.
 */
import { Switchboard } from '@switchboard/sdk';
import { describe, expect, it } from 'vitest';
import { feedHead } from '../../src/mcp/feed.js';

/**
 * A client of a feed whose latest seq is `head`. `visible` says whether the key sees the
 * event after a position (an org-wide key sees them all; a scoped key few or none).
 */
function feedClient(head: number, visible: (seq: number) => boolean) {
  let probes = 0;
  const fetch = async (input: Request | string | URL) => {
    probes += 1;
    const after = Number(new URL(input instanceof Request ? input.url : String(input)).searchParams.get('after'));
    if (after > head) {
      return Response.json({ type: 'urn:switchboard:error:cursor_ahead', title: 'Cursor ahead', status: 409, code: 'cursor_ahead', detail: 'beyond', fix: 'restart' }, { status: 409 });
    }
    let next = after + 1;
    while (next <= head && !visible(next)) next++;
    const data = next <= head ? [{ seq: next }] : [];
    return Response.json({ data, next_after: data[0]?.seq ?? after, has_more: next < head });
  };
  const sb = new Switchboard({ baseUrl: 'http://feed.test', apiKey: 'sb_key_test', fetch: fetch as typeof globalThis.fetch, maxRetries: 0 });
  return { sb, probes: () => probes };
}

describe('feedHead', () => {
  const heads = [0, 1, 2, 3, 7, 8, 9, 1000, 1023, 1024, 123_457];
  it.each(heads)('finds head %i for a key that sees every event', async (head) => {
    const { sb, probes } = feedClient(head, () => true);
    expect(await feedHead(sb)).toBe(head);
    expect(probes()).toBeLessThanOrEqual(2 * Math.log2(head + 2) + 3);
  });

  it.each(heads)('finds head %i for a key that sees no event, or only some', async (head) => {
    expect(await feedHead(feedClient(head, () => false).sb)).toBe(head);
    expect(await feedHead(feedClient(head, (seq) => seq % 97 === 0).sb)).toBe(head);
  });
});
