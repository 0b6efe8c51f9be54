/**
 * Merged conversations through HTTP (docs/api.md, "Merged conversations"): threading
 * merges two conversations when a message links them, a person merges two by hand, the
 * merged id keeps answering for the survivor, and the survivor's summary is exactly the
 * fold of its timeline (domain/projection.ts `foldTimeline`), on both stores.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TimelineEvent } from '../../src/domain/events.js';
import { foldTimeline } from '../../src/domain/projection.js';
import { createApiKey } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let identityId = '';
let n = 0;
beforeAll(async () => {
  h = await harness();
  ({ identityId } = await identityWithMailbox(h, 'desk@merge.test', 'desk'));
});
afterAll(async () => { await h.close(); });

/** Delivers one message to desk@merge.test; returns its conversation id. */
async function deliver(p: { id: string; inReplyTo?: string; references?: string[]; from?: string; subject?: string; date?: string; body?: string }, to = 'desk@merge.test') {
  const res = await inbound(h, rawEmail({
    from: p.from ?? 'pat@far.test', to, subject: p.subject ?? 'Thread', messageId: p.id, inReplyTo: p.inReplyTo,
    references: p.references?.map((r) => `<${r}>`).join(' '), date: p.date, body: p.body,
  }));
  expect(res.status).toBeLessThan(300); // 201 stored, 200 a duplicate
  return res.body.results[0].conversation_id as string;
}

/** Every event of a conversation's timeline, through the API (all pages). */
async function timeline(id: string): Promise<TimelineEvent[]> {
  const out: TimelineEvent[] = [];
  let cursor: string | null = null;
  do {
    const res: any = await h.request('GET', `/v1/conversations/${id}/events?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    out.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

const SUMMARY_FIELDS = ['message_count', 'unread_count', 'latest_message', 'last_event_at', 'labels', 'archived', 'starred', 'assigned_to', 'no_reply_at', 'last_no_reply_at', 'sla_due_at', 'overdue'] as const;

/** The summary fields of a conversation as served, against a fold of its whole timeline. */
async function expectSummaryIsTheFold(id: string): Promise<void> {
  const conversation = (await h.request('GET', `/v1/conversations/${id}`)).body;
  const folded = foldTimeline(await timeline(id)).get(conversation.id)!;
  const pick = (o: any) => Object.fromEntries(SUMMARY_FIELDS.map((f) => [f, o[f]]));
  expect(pick(conversation)).toEqual(pick(folded));
}

const listed = async (query = '') => (await h.request('GET', `/v1/conversations?limit=200${query}`)).body.data.map((c: any) => c.id) as string[];

describe('threading merges conversations a late message links', () => {
  let root = '';
  let orphan = '';
  beforeAll(async () => {
    // The grandchild names only its parent, which has not arrived: it opens a conversation of its own.
    root = await deliver({ id: 'root@merge.test', subject: 'Plans', date: 'Mon, 02 Mar 2026 09:00:00 +0000' });
    orphan = await deliver({ id: 'grandchild@merge.test', inReplyTo: 'child@merge.test', subject: 'Re: Plans', date: 'Mon, 02 Mar 2026 11:00:00 +0000' });
    expect(orphan).not.toBe(root);
    await h.request('POST', `/v1/conversations/${orphan}/labels`, { labels: ['orphan'] });
    await h.request('PUT', `/v1/conversations/${root}/star`);
  });

  it('merges the two into the older when the message between them arrives', async () => {
    const child = await deliver({ id: 'child@merge.test', inReplyTo: 'root@merge.test', subject: 'Re: Plans', date: 'Mon, 02 Mar 2026 10:00:00 +0000' });
    expect(child).toBe(root);
    expect(await listed()).toContain(root);
    expect(await listed()).not.toContain(orphan);
    const survivor = (await h.request('GET', `/v1/conversations/${root}`)).body;
    expect(survivor).toMatchObject({ id: root, message_count: 3, unread_count: 3, starred: true, labels: ['orphan'], merged_from: [orphan] });
    // Live mail is dated when it arrives: the timeline holds both halves in arrival order.
    const messages = (await h.request('GET', `/v1/conversations/${root}/messages`)).body.data;
    expect(messages.map((m: any) => m.headers.message_id)).toEqual(['root@merge.test', 'grandchild@merge.test', 'child@merge.test']);
    // A message names the conversation it is in now; its event keeps the one it arrived in.
    expect(messages.map((m: any) => m.conversation_id)).toEqual([root, root, root]);
    const moved = messages[1];
    expect((await h.request('GET', `/v1/messages/${moved.id}`)).body.conversation_id).toBe(root);
    expect((await timeline(root)).find((e: any) => e.data.message_id === moved.id)?.conversation_id).toBe(orphan);
    await expectSummaryIsTheFold(root);
  });

  it('answers for the survivor under the merged id, on every route', async () => {
    const snapshot = await h.request('GET', `/v1/conversations/${orphan}`);
    expect(snapshot.status).toBe(200);
    expect(snapshot.body.id).toBe(root);
    expect((await h.request('GET', `/v1/conversations/${orphan}/messages`)).body.data).toHaveLength(3);
    // A write on the merged id acts on the survivor.
    const patched = await h.request('PATCH', `/v1/conversations/${orphan}`, { labels: ['kept'] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: root, labels: ['kept'] });
    const read = await h.request('POST', `/v1/conversations/${orphan}/read`);
    expect(read.body).toMatchObject({ updated_count: 3, conversation: { id: root, unread_count: 0 } });
    // A reply by the merged id goes out in the survivor's thread, answering its latest message.
    const reply = await h.request('POST', `/v1/conversations/${orphan}/messages`, { text: 'Noted.' });
    expect(reply.status).toBe(202);
    expect(reply.body.conversation_id).toBe(root);
    expect(reply.body.message.headers.in_reply_to).toBe('child@merge.test');
    // RFC 5322 3.6.4: the parent had no References, so its In-Reply-To, then its id.
    expect(reply.body.message.headers.references).toEqual(['root@merge.test', 'child@merge.test']);
    // And a later reply to the merged conversation's message lands in the survivor.
    expect(await deliver({ id: 'late@merge.test', inReplyTo: 'grandchild@merge.test', date: 'Mon, 02 Mar 2026 12:00:00 +0000' })).toBe(root);
    await expectSummaryIsTheFold(root);
  });

  it('records the merge as the merged conversation\'s last event, on its timeline and the change feed', async () => {
    const feed = (await h.request('GET', '/v1/events?after=0&types=merged')).body.data;
    expect(feed).toEqual([expect.objectContaining({ type: 'merged', conversation_id: orphan, data: { into: root, reason: 'threading', by: null } })]);
    const forSurvivor = (await h.request('GET', `/v1/events?after=0&conversation_id=${root}&types=merged`)).body.data;
    expect(forSurvivor.map((e: any) => e.id)).toEqual([feed[0].id]);
    const own = (await h.request('GET', `/v1/events?after=0&conversation_id=${orphan}`)).body.data;
    expect(own.at(-1)).toMatchObject({ type: 'merged' });
    expect((await timeline(root)).some((e) => e.type === 'merged' && e.conversation_id === orphan)).toBe(true);
  });

  it('counts the merged conversation nowhere', async () => {
    const counts = (await h.request('GET', '/v1/views/counts')).body.data;
    const all = counts.find((c: any) => c.view_id === 'view_all');
    expect(all.total).toBe((await listed()).length);
  });
});

describe('POST /v1/conversations/{id}/merge', () => {
  it('merges two conversations of one identity into the older, with the summary rule', async () => {
    const older = await deliver({ id: 'm1@merge.test', from: 'ann@far.test', subject: 'Order 1' });
    const newer = await deliver({ id: 'm2@merge.test', from: 'ann@other.test', subject: 'Order 1 again' });
    await deliver({ id: 'm3@merge.test', from: 'ann@other.test', inReplyTo: 'm2@merge.test' });
    await h.request('POST', `/v1/conversations/${older}/labels`, { labels: ['a'] });
    await h.request('POST', `/v1/conversations/${newer}/labels`, { labels: ['b', 'a'] });
    await h.request('POST', `/v1/conversations/${newer}/read`);
    await h.request('POST', `/v1/conversations/${older}/archive`, { archived: true });

    // Named either way round, the older survives.
    const res = await h.request('POST', `/v1/conversations/${newer}/merge`, { conversation_id: older });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: older, message_count: 3, unread_count: 1, labels: ['a', 'b'], archived: false });
    const events = await timeline(older);
    expect(events.filter((e) => e.type === 'merged')).toEqual([
      expect.objectContaining({ conversation_id: newer, data: expect.objectContaining({ into: older, reason: 'manual' }) }),
    ]);
    await expectSummaryIsTheFold(older);

    // Once merged, merging again changes nothing.
    const again = await h.request('POST', `/v1/conversations/${older}/merge`, { conversation_id: newer });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(older);
    expect((await timeline(older)).filter((e) => e.type === 'merged')).toHaveLength(1);
  });

  it('finds the survivor by the words of the merged conversation\'s messages (full-text search)', async () => {
    const older = await deliver({ id: 's1@merge.test', from: 'sam@far.test', body: 'The axolotl tank needs cleaning.' });
    const newer = await deliver({ id: 's2@merge.test', from: 'sam@far.test', body: 'The quokka arrived today.' });
    expect(await listed('&q=quokka')).toEqual([newer]);
    await h.request('POST', `/v1/conversations/${older}/merge`, { conversation_id: newer });
    const hits = (await h.request('GET', '/v1/conversations?q=quokka')).body.data;
    expect(hits.map((c: any) => c.id)).toEqual([older]);
    expect(hits[0].search.snippet).toContain('<mark>quokka</mark>');
    expect(await listed('&q=axolotl')).toEqual([older]);
    // Later messages of the survivor are indexed after the moved ones.
    await deliver({ id: 's3@merge.test', from: 'sam@far.test', inReplyTo: 's2@merge.test', body: 'Another quokka note.' });
    expect((await h.request('GET', '/v1/conversations?q=quokka')).body.data[0].search.snippet).toContain('Another');
  });

  it('follows chains: A merged into B, then B into C, and A answers for C', async () => {
    const c = await deliver({ id: 'chain-c@merge.test', from: 'c@chain.test' });
    const b = await deliver({ id: 'chain-b@merge.test', from: 'b@chain.test' });
    const a = await deliver({ id: 'chain-a@merge.test', from: 'a@chain.test' });
    expect((await h.request('POST', `/v1/conversations/${a}/merge`, { conversation_id: b })).body.id).toBe(b);
    expect((await h.request('POST', `/v1/conversations/${b}/merge`, { conversation_id: c })).body.id).toBe(c);
    const snapshot = (await h.request('GET', `/v1/conversations/${a}`)).body;
    expect(snapshot).toMatchObject({ id: c, message_count: 3 });
    expect([...snapshot.merged_from].sort()).toEqual([a, b].sort());
    await expectSummaryIsTheFold(c);
  });

  it('refuses conversations of different identities (422) and ids it cannot see (404)', async () => {
    const mine = await deliver({ id: 'x1@merge.test', from: 'x@far.test' });
    await identityWithMailbox(h, 'sales@merge.test', 'sales');
    const theirs = await deliver({ id: 'x2@merge.test', from: 'x@far.test' }, 'sales@merge.test');
    const across = await h.request('POST', `/v1/conversations/${mine}/merge`, { conversation_id: theirs });
    expect(across.status).toBe(422);
    expect(across.body).toMatchObject({ code: 'identity_mismatch', param: 'conversation_id' });

    const other = await h.otherOrg();
    const foreign = await h.request('POST', `/v1/conversations/${mine}/merge`, { conversation_id: theirs }, { authorization: `Bearer ${other}` });
    expect(foreign.status).toBe(404);
    for (const id of ['conv_nope', 'not-an-id', theirs.replace(/.$/, (ch) => (ch === '0' ? '1' : '0'))]) {
      const res = await h.request('POST', `/v1/conversations/${mine}/merge`, { conversation_id: id });
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'not_found', param: 'conversation_id' });
    }
    // A key scoped to one identity cannot see the other's conversation: 404, as if missing.
    const scoped = await createApiKey(h.store.db, h.orgId, 'desk bot', { identityId });
    const hidden = await h.request('POST', `/v1/conversations/${mine}/merge`, { conversation_id: theirs }, { authorization: `Bearer ${scoped.key}` });
    expect(hidden.status).toBe(404);
    expect((await h.request('POST', `/v1/conversations/${mine}/merge`, {})).status).toBe(400);
    // Nothing was merged.
    expect(await listed()).toEqual(expect.arrayContaining([mine, theirs]));
  });
});

describe('property: after any mix of mail, inbox actions and merges, every summary is the fold of its timeline', () => {
  it('holds on random histories', async () => {
    const by = ['c1', 'c2', 'c3', 'c4'];
    // Each of four threads has messages m0..m4; a message may name another of its thread
    // as its parent, sent or not yet (then it opens a conversation that a later message merges).
    const op = fc.oneof(
      fc.record({ kind: fc.constant('mail' as const), thread: fc.nat(3), msg: fc.nat(4), parent: fc.option(fc.nat(4)), hour: fc.nat(48) }),
      fc.record({ kind: fc.constant('action' as const), thread: fc.nat(3), action: fc.nat(5) }),
      fc.record({ kind: fc.constant('merge' as const), a: fc.nat(3), b: fc.nat(3) }),
    );
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 24 }), async (ops) => {
      run++;
      const convOf = new Map<number, string>();
      const seen = new Set<string>();
      const id = (thread: number, msg: number) => `p${run}.t${thread}.m${msg}@prop.test`;
      for (const o of ops) {
        if (o.kind === 'mail') {
          const date = new Date(Date.UTC(2026, 2, 1, o.hour)).toUTCString();
          const inReplyTo = o.parent !== null && o.parent !== o.msg ? id(o.thread, o.parent) : undefined;
          convOf.set(o.thread, await deliver({ id: id(o.thread, o.msg), from: `${by[o.thread]}@prop${run}.test`, inReplyTo, date }));
          seen.add(convOf.get(o.thread)!);
        } else if (o.kind === 'action') {
          const conv = convOf.get(o.thread);
          if (!conv) continue;
          const calls: [string, string, unknown?][] = [
            ['POST', `/v1/conversations/${conv}/read`], ['POST', `/v1/conversations/${conv}/unread`],
            ['PUT', `/v1/conversations/${conv}/star`], ['POST', `/v1/conversations/${conv}/labels`, { labels: [`l${o.thread}`] }],
            ['POST', `/v1/conversations/${conv}/archive`, { archived: true }], ['POST', `/v1/conversations/${conv}/notes`, { text: 'n' }],
          ];
          const [method, url, body] = calls[o.action]!;
          expect((await h.request(method, url, body)).status).toBeLessThan(300);
        } else {
          const [a, b] = [convOf.get(o.a), convOf.get(o.b)];
          if (!a || !b) continue;
          expect((await h.request('POST', `/v1/conversations/${a}/merge`, { conversation_id: b })).status).toBe(200);
        }
      }
      for (const conv of seen) await expectSummaryIsTheFold(conv);
    }), { numRuns: 20 });
  });
});
