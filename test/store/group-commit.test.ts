/**
 * Group commit (store/group-commit.ts) on a real store: commands that arrive together
 * share one transaction, each keeps its own writes and `seq`, a failing command loses only
 * its own writes, and a command resolves only once its writes are committed. A batch
 * writer's items are written by one call, and again one by one when that call fails.
 * While commands keep coming the next transaction gathers them for a while; a quiet
 * lane never waits. Live ingest goes through it: concurrent `POST /v1/inbound/email`
 * uploads all land, in fewer transactions than messages, even when one cannot be stored
 * as parsed.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganization } from '../../src/services/tenants.js';
import { parseEmail } from '../../src/email/parse.js';
import { receiveEmail, type MessageParser } from '../../src/services/receive-email.js';
import { GroupCommitter, type BatchWriter } from '../../src/store/group-commit.js';
import { routeRecipient } from '../../src/store/identities.js';
import { headSeq, nextSeqs } from '../../src/store/sequences.js';
import type { Store } from '../../src/store/store.js';
import { zone } from '../dns.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await harness();
  await identityWithMailbox(h, 'batch@shop.test', 'batch');
});
afterAll(async () => { await h.close(); });

/**
 * Counts the transactions the store runs from now on. (Commit notifications would not
 * do: on PostgreSQL a node hears its own commits again through LISTEN/NOTIFY.)
 */
function transactionsCounted(): { readonly count: number; stop(): void } {
  const store = h.store as { transaction: Store['transaction'] };
  const original = store.transaction;
  let count = 0;
  store.transaction = <T>(fn: Parameters<Store['transaction']>[0]) => {
    count++;
    return original.call(h.store, fn) as Promise<T>;
  };
  return { get count() { return count; }, stop: () => { store.transaction = original; } };
}

/** A command that reserves one `seq` of `orgId`, as appending an event does. */
const reserve = (orgId: string) => (tx: Parameters<Parameters<GroupCommitter['run']>[1]>[0]) => nextSeqs(tx, orgId, 1);

describe('GroupCommitter', () => {
  it('runs commands that arrive together in one transaction, each with its own seq, committed before any resolves', async () => {
    const committer = new GroupCommitter(h.store, 32);
    const transactions = transactionsCounted();
    const head = await headSeq(h.store.db, h.orgId);
    const seen: number[] = [];
    const seqs = await Promise.all(Array.from({ length: 20 }, () => committer.run(h.orgId, reserve(h.orgId)).then(async (seq) => {
      // Resolved only after the commit: a read outside the transaction (another
      // connection on PostgreSQL) already sees this command's reservation.
      seen.push(await headSeq(h.store.db, h.orgId) - seq);
      return seq;
    })));
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => head + 1 + i));
    expect(seen.every((d) => d >= 0)).toBe(true);
    expect(transactions.count).toBe(1);
    transactions.stop();
  });

  it.each([
    { maxBatch: 1, commands: 5, expected: 5 }, // grouping off: a transaction each
    { maxBatch: 4, commands: 10, expected: 3 }, // a burst split into batches of at most maxBatch
  ])('with batches of at most $maxBatch, runs $commands commands in $expected transactions', async ({ maxBatch, commands, expected }) => {
    const committer = new GroupCommitter(h.store, maxBatch);
    const transactions = transactionsCounted();
    await Promise.all(Array.from({ length: commands }, () => committer.run(h.orgId, reserve(h.orgId))));
    expect(transactions.count).toBe(expected);
    transactions.stop();
  });

  it('never puts two organizations in one transaction', async () => {
    const other = (await createOrganization(h.store, 'other-batch')).orgId;
    const committer = new GroupCommitter(h.store, 32);
    const transactions = transactionsCounted();
    await Promise.all(Array.from({ length: 6 }, (_, i) => committer.run(i % 2 ? other : h.orgId, reserve(i % 2 ? other : h.orgId))));
    expect(transactions.count).toBe(2);
    transactions.stop();
  });

  it('rolls back only the commands that throw; the others commit, whatever their order', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), async (fails) => {
      const committer = new GroupCommitter(h.store, 32);
      const head = await headSeq(h.store.db, h.orgId);
      const results = await Promise.allSettled(fails.map((fail, i) => committer.run(h.orgId, async (tx) => {
        const seq = await nextSeqs(tx, h.orgId, 1);
        if (fail) throw new Error(`command ${i} fails`);
        return seq;
      })));
      results.forEach((r, i) => {
        if (fails[i]) expect(r.status === 'rejected' && (r.reason as Error).message).toBe(`command ${i} fails`);
        else expect(r.status).toBe('fulfilled');
      });
      const kept = fails.filter((f) => !f).length;
      // Only the kept commands' reservations remain: the numbers stay gap-free.
      expect(await headSeq(h.store.db, h.orgId)).toBe(head + kept);
      const seqs = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: kept }, (_, i) => head + 1 + i));
    }), { numRuns: 15 });
  });
});

/** A writer that reserves one `seq` per item and fails any call that includes an item marked bad. */
function reserving(calls: (readonly string[])[]): BatchWriter<string, number> {
  return {
    async write(tx, items) {
      calls.push(items);
      const first = await nextSeqs(tx, h.orgId, items.length);
      if (items.some((i) => i.startsWith('bad'))) throw new Error(`${items.find((i) => i.startsWith('bad'))} fails`);
      return items.map((_, k) => first + k);
    },
  };
}

describe('BatchWriter', () => {
  it('writes the items that arrive together with one call, in order, and gives each caller its own result', async () => {
    const committer = new GroupCommitter(h.store, 32);
    const calls: (readonly string[])[] = [];
    const writer = reserving(calls);
    const transactions = transactionsCounted();
    const head = await headSeq(h.store.db, h.orgId);
    const items = Array.from({ length: 8 }, (_, i) => `item${i}`);
    const seqs = await Promise.all(items.map((item) => committer.write(h.orgId, writer, item)));
    transactions.stop();
    expect(calls).toEqual([items]);
    expect(seqs).toEqual(items.map((_, i) => head + 1 + i));
    expect(transactions.count).toBe(1);
  });

  it('property: when the call fails, writes each item again alone; only the failing ones reject, the rest commit gap-free', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }), fc.boolean(), async (bad, withPlain) => {
      const committer = new GroupCommitter(h.store, 32);
      const calls: (readonly string[])[] = [];
      const writer = reserving(calls);
      const head = await headSeq(h.store.db, h.orgId);
      const items = bad.map((b, i) => `${b ? 'bad' : 'ok'}${i}`);
      // A plain command in the same transaction keeps its write whatever the writer does.
      const plain = withPlain ? [committer.run(h.orgId, reserve(h.orgId))] : [];
      const results = await Promise.allSettled([...plain, ...items.map((item) => committer.write(h.orgId, writer, item))]);
      const written = results.slice(plain.length);
      written.forEach((r, i) => {
        if (bad[i]) expect(r.status === 'rejected' && (r.reason as Error).message).toBe(`${items[i]} fails`);
        else expect(r.status).toBe('fulfilled');
      });
      if (withPlain) expect(results[0]!.status).toBe('fulfilled');
      const kept = results.filter((r) => r.status === 'fulfilled').length;
      expect(await headSeq(h.store.db, h.orgId)).toBe(head + kept);
      const seqs = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: kept }, (_, i) => head + 1 + i));
      // One call for the lot; then, only if it failed and held more than one item, one call per item.
      expect(calls[0]).toEqual(items);
      expect(calls.slice(1)).toEqual(bad.some(Boolean) && items.length > 1 ? items.map((i) => [i]) : []);
    }), { numRuns: 15 });
  });
});

describe('the gather window', () => {
  it('never holds back a command on a quiet lane', async () => {
    // A window of a minute: the command resolves within the test's time only if it did not wait for it.
    const committer = new GroupCommitter(h.store, 32, 60_000);
    expect(await committer.run(h.orgId, reserve(h.orgId))).toBeGreaterThan(0);
  });

  it('while commands keep coming, holds the next transaction until the batch is full', async () => {
    const committer = new GroupCommitter(h.store, 2, 60_000);
    await committer.run(h.orgId, reserve(h.orgId));
    await new Promise((resolve) => setTimeout(resolve, 5)); // the lane has committed and is idle
    const transactions = transactionsCounted();
    let settled = false;
    const first = committer.run(h.orgId, reserve(h.orgId)).finally(() => { settled = true; });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled).toBe(false); // waiting for company, not committed alone
    const second = committer.run(h.orgId, reserve(h.orgId)); // fills the batch of 2: no more waiting
    const [a, b] = await Promise.all([first, second]);
    transactions.stop();
    expect(b).toBe(a + 1);
    expect(transactions.count).toBe(1);
  });
});

describe('live ingest through group commit', () => {
  it('stores every one of a burst of uploads, in fewer transactions than messages', async () => {
    const transactions = transactionsCounted();
    const n = 24;
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => inbound(h, rawEmail({
      from: `sender${i}@x.test`, to: 'batch@shop.test', subject: `burst ${i}`, messageId: `burst-${i}@x.test`,
    }))));
    expect(answers.map((a) => a.status)).toEqual(Array(n).fill(201));
    expect(transactions.count).toBeLessThan(n);
    transactions.stop();
    for (let i = 0; i < n; i++) {
      const list = await h.request('GET', `/v1/conversations?with=sender${i}@x.test`);
      expect(list.body.data).toHaveLength(1);
      expect(list.body.data[0].message_count).toBe(1);
    }
  });

  it('indexes the search words the parser made, for one mailbox (the batch) and for several (one message each)', async () => {
    await identityWithMailbox(h, 'words@shop.test', 'words');
    const one = (await routeRecipient(h.store.db, 'batch@shop.test'))!;
    const other = (await routeRecipient(h.store.db, 'words@shop.test'))!;
    // Words the text does not hold: found only if the parser's are the ones indexed.
    const parse: MessageParser = async (raw) => {
      const parsed = await parseEmail(raw);
      return { parsed, tokens: [`${parsed.subject!.split(' ')[0]}parserword`] };
    };
    const arrival = { transport: 'http' as const, clientIp: null, helo: null, mailFrom: null };
    const receive = (subject: string, routes: typeof one[]) => receiveEmail(h.store, h.config, routes, rawEmail({
      from: `${subject}@x.test`, to: 'batch@shop.test', subject: `${subject} words`, messageId: `${subject}-words@x.test`, body: 'Plain text.',
    }), arrival, { resolver: zone(), serverName: 'test', parse });
    expect((await receive('alone', [one])).map((o) => o.status)).toEqual(['stored']);
    expect((await receive('shared', [one, other])).map((o) => o.status)).toEqual(['stored', 'stored']);
    const found = async (word: string) => (await h.request('GET', `/v1/conversations?q=${word}`)).body.data.map((c: { counterpart: string }) => c.counterpart);
    expect(await found('aloneparserword')).toEqual(['alone@x.test']);
    expect(await found('sharedparserword')).toEqual(['shared@x.test', 'shared@x.test']);
    expect(await found('plain')).toEqual([]);
  });

  it('stores a burst in one batch even when one message of it cannot be stored as parsed; that one as its headers and text', async () => {
    const route = (await routeRecipient(h.store.db, 'batch@shop.test'))!;
    // A parse whose output cannot be written (an attachment that is not bytes), for one message only.
    const parse: MessageParser = async (raw) => {
      const parsed = await parseEmail(raw);
      if (parsed.subject !== 'unstorable') return { parsed };
      return { parsed: { ...parsed, attachments: [{ filename: 'x', contentType: 'application/x', content: { not: 'bytes' } as unknown as Buffer, contentId: null, disposition: null }] } };
    };
    const arrival = { transport: 'http' as const, clientIp: null, helo: null, mailFrom: null };
    const n = 12;
    // Message 5 cannot be stored as parsed; message 8 claims the mailbox's own address without DMARC alignment (spoofed).
    const raws = Array.from({ length: n }, (_, i) => rawEmail({
      from: i === 8 ? 'batch@shop.test' : `mixed${i}@x.test`, to: 'batch@shop.test', subject: i === 5 ? 'unstorable' : `mixed ${i}`,
      messageId: `mixed-${i}@x.test`, body: `Body ${i}.`,
    }));
    const transactions = transactionsCounted();
    const outcomes = await Promise.all(raws.map((raw) => receiveEmail(h.store, h.config, [route], raw, arrival, { resolver: zone(), serverName: 'test', parse })));
    transactions.stop();
    expect(outcomes.map((o) => o.map((x) => x.status))).toEqual(Array(n).fill(['stored']));
    expect(new Set(outcomes.map((o) => (o[0] as { conversationId: string }).conversationId)).size).toBe(n);
    // The burst's batch, the failed message's retry in a savepoint, and its headers-and-text copy: far fewer than one each.
    expect(transactions.count).toBeLessThan(n / 2);
    for (let i = 0; i < n; i++) {
      // Each caller gets its own message's outcome.
      const conversation = (outcomes[i]![0] as { conversationId: string }).conversationId;
      const messages = (await h.request('GET', `/v1/conversations/${conversation}/messages`)).body.data;
      expect(messages).toHaveLength(1);
      expect(messages[0].text).toContain(`Body ${i}.`);
      expect(messages[0].parse_problems.join(' ').includes('storing its parsed form failed')).toBe(i === 5);
      expect(messages[0]).toMatchObject({ direction: 'inbound', spoofed: i === 8 });
    }
  });
});
