/**
 * The read cache's admission (api/read-cache.ts): an answer is stored only for a key
 * asked for before, so one-off keys (a sync poll's new `since` each time) cannot evict
 * the hot ones, and a key seen before is stored again at once after a write.
 */
import { describe, expect, it } from 'vitest';
import { ReadCache } from '../../src/api/read-cache.js';
import { OrgVersions } from '../../src/store/org-versions.js';

function setup(maxBytes: number) {
  let version = 1;
  const cache = new ReadCache(new OrgVersions(async () => version), maxBytes);
  const computed: string[] = [];
  const get = (key: string, bytes = 10) => cache.get('org_1', key, async () => {
    computed.push(key);
    return Buffer.alloc(bytes, key);
  });
  return { get, computed, write: () => { version += 1; } };
}

describe('read cache admission', () => {
  it('stores a key\'s answer from its second request on', async () => {
    const c = setup(1024 * 1024);
    await c.get('page');
    await c.get('page');
    await c.get('page');
    await c.get('page');
    expect(c.computed).toEqual(['page', 'page']);
  });

  it('keeps a hot page through a stream of one-off keys that would fill the cache many times over', async () => {
    const c = setup(64 * 1024);
    await c.get('hot', 1000);
    await c.get('hot', 1000);
    for (let i = 0; i < 500; i++) await c.get(`since=${i}`, 4096);
    c.computed.length = 0;
    await c.get('hot', 1000);
    expect(c.computed).toEqual([]);
  });

  it('after a write, stores the new answer of a key seen before at once', async () => {
    const c = setup(1024 * 1024);
    await c.get('page');
    await c.get('page');
    c.write();
    await c.get('page');
    await c.get('page');
    expect(c.computed).toEqual(['page', 'page', 'page']);
  });
});
