/**
 * OrgVersions (store/org-versions.ts) shares version reads between concurrent callers
 * without ever answering a caller with a read that started before it asked: whatever
 * the interleaving of calls, commits and finishing reads, every answer is at least the
 * version committed when its call was made.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OrgVersions } from '../../src/store/org-versions.js';

/** A store whose version reads finish only when the test says so, in the order started. */
function controlledStore() {
  const committed = new Map<string, number>();
  const reads: { org: string; value: number; settle: (v: number) => void; fail: (e: Error) => void }[] = [];
  const read = (org: string) => new Promise<number>((settle, fail) => {
    // The value is fixed when the read starts, as a database read's snapshot is.
    reads.push({ org, value: committed.get(org) ?? 0, settle, fail });
  });
  return { committed, reads, read };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('OrgVersions', () => {
  it('never answers a call with a read that was already running when it was made', async () => {
    const s = controlledStore();
    const versions = new OrgVersions(s.read);
    const first = versions.current('org_a');
    expect(s.reads).toHaveLength(1);
    s.committed.set('org_a', 7);
    const second = versions.current('org_a');
    const third = versions.current('org_a');
    expect(s.reads).toHaveLength(1); // the next read waits for the running one
    s.reads[0]!.settle(s.reads[0]!.value);
    expect(await first).toBe(0);
    await tick();
    expect(s.reads).toHaveLength(2); // one read for both waiting callers
    s.reads[1]!.settle(s.reads[1]!.value);
    expect(await second).toBe(7);
    expect(await third).toBe(7);
  });

  it('reads each organization on its own, and passes a failed read to its callers only', async () => {
    const s = controlledStore();
    const versions = new OrgVersions(s.read);
    const a = versions.current('org_a');
    const b = versions.current('org_b');
    expect(s.reads.map((r) => r.org)).toEqual(['org_a', 'org_b']);
    const aAgain = versions.current('org_a');
    s.reads[0]!.fail(new Error('connection lost'));
    await expect(a).rejects.toThrow('connection lost');
    await tick();
    s.reads[2]!.settle(3);
    s.reads[1]!.settle(5);
    expect(await aAgain).toBe(3);
    expect(await b).toBe(5);
  });

  it('answers every call with a version at least as new as the last commit before it', async () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant('call' as const), org: fc.constantFrom('org_a', 'org_b') }),
      fc.record({ op: fc.constant('commit' as const), org: fc.constantFrom('org_a', 'org_b') }),
      fc.record({ op: fc.constant('finish' as const) }),
    );
    await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
      const s = controlledStore();
      const versions = new OrgVersions(s.read);
      const calls: { floor: number; answer: Promise<number> }[] = [];
      let finished = 0;
      for (const st of steps) {
        if (st.op === 'call') calls.push({ floor: s.committed.get(st.org) ?? 0, answer: versions.current(st.org) });
        if (st.op === 'commit') s.committed.set(st.org, (s.committed.get(st.org) ?? 0) + 1);
        if (st.op === 'finish' && finished < s.reads.length) {
          const r = s.reads[finished++]!;
          r.settle(r.value);
          await tick();
        }
      }
      // Let every outstanding read finish (a queued read starts once the one before ends).
      while (finished < s.reads.length) {
        const r = s.reads[finished++]!;
        r.settle(r.value);
        await tick();
      }
      for (const c of calls) expect(await c.answer).toBeGreaterThanOrEqual(c.floor);
      // Shared reads: never more reads than calls.
      expect(s.reads.length).toBeLessThanOrEqual(calls.length);
    }), { numRuns: 200 });
  });
});
