/**
 * Inbox workflow through HTTP: read state, stars, assignment, notes and calls, and the
 * list filters built on them (`starred`, `unread`, `label`, `assigned_to`, `scope`).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let seq = 0;
beforeAll(async () => {
  h = await harness();
  await identityWithMailbox(h, 'desk@inbox.test', 'desk');
});
afterAll(async () => { await h.close(); });

/** A new conversation with `n` inbound messages; returns its id. */
async function conversationWith(n: number): Promise<string> {
  const who = `person${++seq}@far.test`;
  let id = '';
  for (let i = 0; i < n; i++) {
    const res = await inbound(h, rawEmail({ from: who, to: 'desk@inbox.test', subject: `Case ${seq}`, messageId: `c${seq}-${i}@far.test`, ...(i > 0 ? { inReplyTo: `c${seq}-0@far.test` } : {}) }));
    id = res.body.results[0].conversation_id;
  }
  return id;
}

const get = async (id: string) => (await h.request('GET', `/v1/conversations/${id}`)).body;
const ids = async (query: string) => {
  const out: string[] = [];
  let cursor: string | null = null;
  do {
    const res: any = await h.request('GET', `/v1/conversations?limit=200${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    out.push(...res.body.data.map((c: any) => c.id));
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
};

async function member(email: string, role = 'agent') {
  const res = await h.request('POST', '/v1/members', { email, role });
  expect(res.status).toBe(201);
  const key = await createApiKey(h.store.db, h.orgId, email, { memberId: res.body.id });
  return { id: res.body.id as string, key: key.key };
}
const as = (key: string) => ({ authorization: `Bearer ${key}` });

describe('read state', () => {
  it('counts unread inbound messages exactly, and read clears them with updated_count', async () => {
    const id = await conversationWith(3);
    expect((await get(id)).unread_count).toBe(3);
    const read = await h.request('POST', `/v1/conversations/${id}/read`);
    expect(read.status).toBe(200);
    expect(read.body.updated_count).toBe(3);
    expect(read.body.conversation.unread_count).toBe(0);
    const again = await h.request('POST', `/v1/conversations/${id}/read`);
    expect(again.body.updated_count).toBe(0);
    const events = (await h.request('GET', `/v1/conversations/${id}/events?types=read`)).body.data;
    expect(events).toHaveLength(1);
    expect(events[0].data).toMatchObject({ updated_count: 3, by: { member_id: null } });
  });

  it('has no cap on the unread count', async () => {
    const id = await conversationWith(1);
    const res = await h.request('PATCH', `/v1/conversations/${id}`, { unread_count: 250_000 });
    expect(res.body.unread_count).toBe(250_000);
    expect((await h.request('POST', `/v1/conversations/${id}/read`)).body.updated_count).toBe(250_000);
  });

  it('unread marks at least one unread, and keeps a higher count', async () => {
    const id = await conversationWith(2);
    expect((await h.request('POST', `/v1/conversations/${id}/unread`)).body.unread_count).toBe(2);
    await h.request('POST', `/v1/conversations/${id}/read`);
    expect((await h.request('POST', `/v1/conversations/${id}/unread`)).body.unread_count).toBe(1);
    const types = (await h.request('GET', `/v1/conversations/${id}/events`)).body.data.map((e: any) => e.type);
    expect(types.filter((t: string) => t === 'unread')).toHaveLength(1);
  });

  it('reading the snapshot changes nothing unless mark_read=true', async () => {
    const id = await conversationWith(2);
    await get(id);
    await h.request('GET', `/v1/conversations/${id}/messages`);
    expect((await get(id)).unread_count).toBe(2);
    const marked = (await h.request('GET', `/v1/conversations/${id}?mark_read=true`)).body;
    expect(marked.unread_count).toBe(0);
    expect(marked.events.at(-1).type).toBe('read');
  });

  it('mark_read needs conversations:write', async () => {
    const id = await conversationWith(1);
    const reader = await createApiKey(h.store.db, h.orgId, 'reader', { permissions: ['conversations:read'] });
    const res = await h.request('GET', `/v1/conversations/${id}?mark_read=true`, undefined, as(reader.key));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('missing_permission');
    expect((await get(id)).unread_count).toBe(1);
  });

  it('a PATCH without a field to change is 400 no_valid_fields, an unknown field 400 validation_failed; an override sets the count', async () => {
    const id = await conversationWith(1);
    const unknown = await h.request('PATCH', `/v1/conversations/${id}`, { colour: 'blue' });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ code: 'validation_failed', param: 'colour' });
    expect((await h.request('PATCH', `/v1/conversations/${id}`, {})).body.code).toBe('no_valid_fields');
    expect((await h.request('PATCH', `/v1/conversations/${id}`, { unread_count: -1 })).body.code).toBe('validation_failed');
    expect((await h.request('PATCH', `/v1/conversations/${id}`, { unread_count: 7 })).body.unread_count).toBe(7);
    expect((await h.request('PATCH', `/v1/conversations/${id}`, { unread_count: 0 })).body.unread_count).toBe(0);
  });

  it('reading, starring and assigning do not move a conversation up the list', async () => {
    const older = await conversationWith(1);
    const newer = await conversationWith(1);
    const before = (await get(older)).last_event_at;
    await h.request('POST', `/v1/conversations/${older}/read`);
    await h.request('PUT', `/v1/conversations/${older}/star`);
    expect((await get(older)).last_event_at).toBe(before);
    const order = await ids('');
    expect(order.indexOf(newer)).toBeLessThan(order.indexOf(older));
  });
});

describe('stars, labels and archive filters', () => {
  it('PUT and DELETE star toggle it once each, with events', async () => {
    const id = await conversationWith(1);
    expect((await h.request('PUT', `/v1/conversations/${id}/star`)).body.starred).toBe(true);
    expect((await h.request('PUT', `/v1/conversations/${id}/star`)).body.starred).toBe(true);
    expect((await h.request('DELETE', `/v1/conversations/${id}/star`)).body.starred).toBe(false);
    const types = (await h.request('GET', `/v1/conversations/${id}/events?types=starred&types=unstarred`)).body.data.map((e: any) => e.type);
    expect(types).toEqual(['starred', 'unstarred']);
  });

  it('property: starred, unread and label filters list exactly the matching conversations', async () => {
    const pool = await Promise.all(Array.from({ length: 6 }, () => conversationWith(1)));
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ starred: fc.boolean(), read: fc.boolean(), label: fc.constantFrom(null, 'vip', 'a_b%') }), { minLength: 6, maxLength: 6 }),
      async (states) => {
        for (const [i, s] of states.entries()) {
          await h.request('PATCH', `/v1/conversations/${pool[i]}`, { starred: s.starred, unread_count: s.read ? 0 : 1, labels: s.label ? [s.label] : [] });
        }
        const inPool = (list: string[]) => list.filter((id) => pool.includes(id)).sort();
        const expected = (pred: (s: (typeof states)[number]) => boolean) => pool.filter((_, i) => pred(states[i]!)).sort();
        expect(inPool(await ids('&starred=true'))).toEqual(expected((s) => s.starred));
        expect(inPool(await ids('&starred=false'))).toEqual(expected((s) => !s.starred));
        expect(inPool(await ids('&unread=true'))).toEqual(expected((s) => !s.read));
        expect(inPool(await ids('&unread=false'))).toEqual(expected((s) => s.read));
        expect(inPool(await ids('&label=vip'))).toEqual(expected((s) => s.label === 'vip'));
        // LIKE wildcards in a label are literal: `a_b%` does not match `vip`, nor `vip` it.
        expect(inPool(await ids(`&label=${encodeURIComponent('a_b%')}`))).toEqual(expected((s) => s.label === 'a_b%'));
        expect(inPool(await ids('&starred=true&unread=true'))).toEqual(expected((s) => s.starred && !s.read));
      },
    ), { numRuns: 8 });
  });
});

describe('assignment', () => {
  it('assigns to a member, me, or nobody, with events; a non-member is 422 not_a_member', async () => {
    const ann = await member('ann@staff.test');
    const id = await conversationWith(1);
    const res = await h.request('POST', `/v1/conversations/${id}/assign`, { assigned_to: ann.id });
    expect(res.status).toBe(200);
    expect(res.body.assigned_to).toBe(ann.id);
    for (const bad of ['mem_01h455vb4pex5vsknk084sn02q', 'bob', 'key_01h455vb4pex5vsknk084sn02q']) {
      const r = await h.request('POST', `/v1/conversations/${id}/assign`, { assigned_to: bad });
      expect(r.status).toBe(422);
      expect(r.body).toMatchObject({ code: 'not_a_member', param: 'assigned_to' });
    }
    expect((await h.request('POST', `/v1/conversations/${id}/assign`, { assigned_to: null })).body.assigned_to).toBeNull();
    const mine = await h.request('POST', `/v1/conversations/${id}/assign`, { assigned_to: 'me' }, as(ann.key));
    expect(mine.body.assigned_to).toBe(ann.id);
    const events = (await h.request('GET', `/v1/conversations/${id}/events?types=assigned`)).body.data;
    expect(events.map((e: any) => e.data.assigned_to)).toEqual([ann.id, null, ann.id]);
    expect(events[2].data.by.member_id).toBe(ann.id);
    // `me` with a key that acts as no member says how to fix it.
    const noMember = await h.request('POST', `/v1/conversations/${id}/assign`, { assigned_to: 'me' });
    expect(noMember.status).toBe(400);
    expect(noMember.body.param).toBe('assigned_to');
  });

  it('another organization\'s member is not a member', async () => {
    const otherKey = await h.otherOrg();
    const other = await h.app.inject({ method: 'POST', url: '/v1/members', headers: { authorization: `Bearer ${otherKey}`, 'content-type': 'application/json' }, payload: { email: 'x@other.test', role: 'agent' } });
    const id = await conversationWith(1);
    const res = await h.request('POST', `/v1/conversations/${id}/assign`, { assigned_to: JSON.parse(other.body).id });
    expect(res.body.code).toBe('not_a_member');
  });

  it('assigned_to and scope filters resolve per caller', async () => {
    const bea = await member('bea@staff.test');
    const cid = await member('cid@staff.test');
    const forBea = await conversationWith(1);
    const forCid = await conversationWith(1);
    const nobody = await conversationWith(1);
    await h.request('POST', `/v1/conversations/${forBea}/assign`, { assigned_to: bea.id });
    await h.request('POST', `/v1/conversations/${forCid}/assign`, { assigned_to: cid.id });
    const listAs = async (key: string, q: string) => (await h.request('GET', `/v1/conversations?limit=200&${q}`, undefined, as(key))).body.data.map((c: any) => c.id);
    expect(await listAs(bea.key, 'assigned_to=me')).toEqual([forBea]);
    expect(await listAs(bea.key, 'scope=mine')).toEqual([forBea]);
    expect(await listAs(cid.key, 'scope=mine')).toEqual([forCid]);
    const team = await listAs(bea.key, 'scope=team');
    expect(team).toContain(forCid);
    expect(team).toContain(nobody);
    expect(team).not.toContain(forBea);
    expect(await listAs(h.key, `assigned_to=${cid.id}`)).toEqual([forCid]);
    const none = await listAs(h.key, 'assigned_to=none');
    expect(none).toContain(nobody);
    expect(none).not.toContain(forBea);
    expect((await h.request('GET', '/v1/conversations?scope=mine')).body.code).toBe('validation_failed');
  });
});

describe('notes and calls', () => {
  it('adds them to the timeline; /messages shows them inline only when asked', async () => {
    const id = await conversationWith(1);
    const note = await h.request('POST', `/v1/conversations/${id}/notes`, { text: 'Called back, left a voicemail.' });
    expect(note.status).toBe(201);
    expect(note.body).toMatchObject({ type: 'note', conversation_id: id, text: 'Called back, left a voicemail.', author: { member_id: null } });
    expect(note.body.id).toMatch(/^note_/);
    const call = await h.request('POST', `/v1/conversations/${id}/calls`, {
      direction: 'outbound', duration_s: 312, started_at: '2030-01-01T10:00:00Z', summary: 'Agreed on a refund',
      transcript: 'Hello…', recording_url: 'https://rec.example/1.mp3',
    });
    expect(call.status).toBe(201);
    expect(call.body).toMatchObject({ type: 'call', direction: 'outbound', duration_s: 312, at: '2030-01-01T10:00:00.000Z', recording_url: 'https://rec.example/1.mp3' });
    const plain = (await h.request('GET', `/v1/conversations/${id}/messages`)).body.data;
    expect(plain.map((m: any) => m.type)).toEqual(['message']);
    const all = (await h.request('GET', `/v1/conversations/${id}/messages?include=calls,notes`)).body.data;
    expect(all.map((m: any) => m.type)).toEqual(['message', 'note', 'call']);
    const callsOnly = (await h.request('GET', `/v1/conversations/${id}/messages?include=calls`)).body.data;
    expect(callsOnly.map((m: any) => m.type)).toEqual(['message', 'call']);
    expect(callsOnly[1]).toEqual(call.body);
    const desc = (await h.request('GET', `/v1/conversations/${id}/messages?include=notes&include=calls&order=desc&limit=1`)).body;
    expect(desc.data[0].type).toBe('call');
    expect(desc.has_more).toBe(true);
  });

  it('validates them', async () => {
    const id = await conversationWith(1);
    for (const body of [{}, { text: '' }, { text: 5 }]) {
      expect((await h.request('POST', `/v1/conversations/${id}/notes`, body)).body.code).toBe('validation_failed');
    }
    for (const body of [{ direction: 'sideways', duration_s: 1 }, { direction: 'inbound', duration_s: -1 }, { direction: 'inbound', duration_s: 1, recording_url: 'javascript:alert(1)' }]) {
      expect((await h.request('POST', `/v1/conversations/${id}/calls`, body)).body.code).toBe('validation_failed');
    }
    expect((await h.request('GET', `/v1/conversations/${id}/messages?include=emails`)).body.code).toBe('validation_failed');
  });
});

describe('isolation', () => {
  it('another organization cannot read, star, assign, annotate or mark its conversations', async () => {
    const id = await conversationWith(2);
    const other = await h.otherOrg();
    for (const [method, url, body] of [
      ['POST', `/v1/conversations/${id}/read`, undefined], ['POST', `/v1/conversations/${id}/unread`, undefined],
      ['PUT', `/v1/conversations/${id}/star`, undefined], ['POST', `/v1/conversations/${id}/assign`, { assigned_to: null }],
      ['POST', `/v1/conversations/${id}/notes`, { text: 'x' }], ['POST', `/v1/conversations/${id}/calls`, { direction: 'inbound', duration_s: 1 }],
      ['GET', `/v1/conversations/${id}?mark_read=true`, undefined],
    ] as const) {
      const res = await h.request(method, url, body, as(other));
      expect(res.status, `${method} ${url}`).toBe(404);
    }
    const snap = await get(id);
    expect(snap).toMatchObject({ unread_count: 2, starred: false, assigned_to: null });
    expect(snap.events.map((e: any) => e.type)).toEqual(['message', 'message']);
  });
});
