/**
 * Views through the API: the built-in views, saved views (CRUD, validation, isolation),
 * `GET /v1/views/counts`, and `view_id` on the conversation list, resolved per caller.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { createApiKey } from '../../src/services/tenants.js';
import { inOrgTransaction } from '../../src/store/sequences.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let help: string;
let sales: string;
/** Conversations made once; each test sets their states directly. */
const convs: { id: string; identityId: string }[] = [];
const members = { ann: newId('mem'), bob: newId('mem') };
const keys = {} as { ann: string; bob: string; scoped: string; reader: string };

const as = (key: string) => ({ authorization: `Bearer ${key}` });
const get = async (url: string, key = h.key) => h.request('GET', url, undefined, as(key));
const BUILTIN_IDS = ['view_unread', 'view_recents', 'view_starred', 'view_all'];

beforeAll(async () => {
  h = await harness();
  help = (await identityWithMailbox(h, 'help@shop.test', 'help')).identityId;
  sales = (await identityWithMailbox(h, 'sales@shop.test', 'sales')).identityId;
  for (let i = 0; i < 8; i++) {
    const to = i % 3 === 2 ? 'sales@shop.test' : 'help@shop.test';
    const res = await inbound(h, rawEmail({ from: `c${i}@buyer.test`, to, messageId: `v${i}@buyer.test`, date: `Mon, 16 Nov 2009 10:0${i}:00 +0000` }));
    convs.push({ id: res.body.results[0].conversation_id, identityId: to.startsWith('help') ? help : sales });
  }
  const now = new Date().toISOString();
  for (const [name, id] of Object.entries(members)) {
    await h.store.db.insertInto('members').values({ id, org_id: h.orgId, email: `${name}@shop.test`, name, role: 'agent', created_at: now, updated_at: now }).execute();
  }
  keys.ann = (await createApiKey(h.store.db, h.orgId, 'ann', { memberId: members.ann })).key;
  keys.bob = (await createApiKey(h.store.db, h.orgId, 'bob', { memberId: members.bob })).key;
  keys.scoped = (await createApiKey(h.store.db, h.orgId, 'help only', { identityId: help })).key;
  keys.reader = (await createApiKey(h.store.db, h.orgId, 'reader', { permissions: ['conversations:read'] })).key;
});
afterAll(async () => { await h.close(); });

interface State {
  starred: boolean;
  unread: number;
  archived: boolean;
  labels: string[];
  assignedTo: string | null;
  blocked: boolean;
}

const PLAIN: State = { starred: false, unread: 0, archived: false, labels: [], assignedTo: null, blocked: false };

/** Sets the projected state of every conversation (the commands that do it are tested elsewhere). */
/** Writes the states straight into the rows, under the org lock as every writer of them must (it bumps the org's version). */
async function setStates(states: readonly State[]): Promise<void> {
  await inOrgTransaction(h.store, h.orgId, async (tx) => {
    for (const [i, s] of states.entries()) {
      await tx.updateTable('conversations').set({
        starred: s.starred ? 1 : 0, unread_count: s.unread, archived: s.archived ? 1 : 0, labels: JSON.stringify(s.labels),
        assigned_to: s.assignedTo, is_blocked: s.blocked ? 1 : 0,
      }).where('id', '=', convs[i]!.id).execute();
    }
  });
}

/** The filter parameters the property varies, and what they mean, computed without the server. */
interface Params {
  archived?: boolean;
  starred?: boolean;
  unread?: boolean;
  label?: string;
  is_blocked?: boolean;
  identity_id?: string;
  assigned_to?: string;
}

function matches(c: { identityId: string }, s: State, f: Params, caller: { memberId: string | null; identityId: string | null }): boolean {
  if (caller.identityId !== null && (c.identityId !== caller.identityId || s.blocked)) return false;
  if (f.is_blocked === undefined ? s.blocked : s.blocked !== f.is_blocked) return false;
  if (f.archived !== undefined && s.archived !== f.archived) return false;
  if (f.starred !== undefined && s.starred !== f.starred) return false;
  if (f.unread !== undefined && (s.unread > 0) !== f.unread) return false;
  if (f.label !== undefined && !s.labels.includes(f.label)) return false;
  if (f.identity_id !== undefined && c.identityId !== f.identity_id) return false;
  if (f.assigned_to !== undefined) {
    const who = f.assigned_to === 'none' ? null : f.assigned_to === 'me' ? (caller.memberId ?? undefined) : f.assigned_to;
    if (who === undefined || s.assignedTo !== who) return false;
  }
  return true;
}

const BUILTIN_FILTERS: Record<string, Params> = {
  view_unread: { unread: true, archived: false },
  view_recents: { archived: false },
  view_starred: { starred: true },
  view_all: {},
};

/** Every id of a list, following cursors. */
async function listAll(query: string, key = h.key): Promise<{ ids: string[]; unread: number }> {
  const ids: string[] = [];
  let unread = 0;
  let cursor: string | null = null;
  do {
    const res = await get(`/v1/conversations?limit=3&${query}${cursor ? `&cursor=${cursor}` : ''}`, key);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    ids.push(...res.body.data.map((c: any) => c.id));
    unread += res.body.data.filter((c: any) => c.unread_count > 0).length;
    cursor = res.body.next_cursor;
  } while (cursor);
  return { ids: ids.sort(), unread };
}

const qs = (p: object) => new URLSearchParams(Object.entries(p).map(([k, v]) => [k, String(v)])).toString();

describe('built-in views', () => {
  it('lists the built-in views first, which cannot be changed or deleted', async () => {
    const res = await get('/v1/views');
    expect(res.status).toBe(200);
    expect(res.body.data.map((v: any) => [v.id, v.name, v.builtin])).toEqual([
      ['view_unread', 'Unread', true], ['view_recents', 'Recents', true], ['view_starred', 'Starred', true], ['view_all', 'All', true],
    ]);
    expect(res.body.data[0]).toEqual({ id: 'view_unread', name: 'Unread', builtin: true, filter: { unread: true, archived: false }, created_at: null, updated_at: null });
    for (const id of BUILTIN_IDS) {
      expect((await get(`/v1/views/${id}`)).body.id).toBe(id);
      for (const [method, body] of [['PATCH', { name: 'Mine' }], ['PUT', { name: 'Mine', filter: {} }], ['DELETE', undefined]] as const) {
        const res = await h.request(method, `/v1/views/${id}`, body);
        expect(res.status).toBe(409);
        expect(res.body.code).toBe('view_builtin');
      }
    }
    expect((await get('/v1/views')).body.data).toHaveLength(4);
  });
});

describe('saved views', () => {
  it('creates, reads, changes, replaces and deletes a view', async () => {
    const created = await h.request('POST', '/v1/views', { name: 'VIP', filter: { label: 'vip', archived: false } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'VIP', builtin: false, filter: { label: 'vip', archived: false } });
    expect(created.body.id).toMatch(/^view_[0-9a-z]{26}$/);
    expect(created.body.created_at).toBe(created.body.updated_at);
    const id = created.body.id;
    const second = (await h.request('POST', '/v1/views', { name: 'Starred sales', filter: { starred: true, identity_id: sales } })).body;

    expect((await get(`/v1/views/${id}`)).body).toEqual(created.body);
    expect((await get('/v1/views')).body.data.map((v: any) => v.id)).toEqual([...BUILTIN_IDS, id, second.id]);

    const renamed = await h.request('PATCH', `/v1/views/${id}`, { name: 'Very important' });
    expect(renamed.body).toMatchObject({ id, name: 'Very important', filter: { label: 'vip', archived: false } });
    const refiltered = await h.request('PATCH', `/v1/views/${id}`, { filter: { starred: true } });
    expect(refiltered.body).toMatchObject({ name: 'Very important', filter: { starred: true } });
    expect(refiltered.body.filter).toEqual({ starred: true });
    const replaced = await h.request('PUT', `/v1/views/${id}`, { name: 'Unassigned', filter: { assigned_to: 'none' } });
    expect(replaced.body).toMatchObject({ id, name: 'Unassigned', filter: { assigned_to: 'none' }, created_at: created.body.created_at });
    expect((await get(`/v1/views/${id}`)).body).toEqual(replaced.body);

    const nothing = await h.request('PATCH', `/v1/views/${id}`, {});
    expect(nothing.status).toBe(400);
    expect(nothing.body.code).toBe('no_valid_fields');

    expect((await h.request('DELETE', `/v1/views/${id}`)).status).toBe(204);
    expect((await get(`/v1/views/${id}`)).status).toBe(404);
    expect((await h.request('DELETE', `/v1/views/${id}`)).status).toBe(404);
    expect((await h.request('PATCH', `/v1/views/${id}`, { name: 'x' })).status).toBe(404);
    expect((await get('/v1/views')).body.data.map((v: any) => v.id)).toEqual([...BUILTIN_IDS, second.id]);
    await h.request('DELETE', `/v1/views/${second.id}`);
  });

  it('validates the name and the filter with the list\'s own schema', async () => {
    const bad = [
      [{ name: 'x', filter: { zzz: 1 } }, 'filter.zzz'],
      [{ name: 'x', filter: { archived: 'true' } }, 'filter.archived'],
      [{ name: 'x', filter: { view_id: 'view_all' } }, 'filter.view_id'],
      [{ name: 'x', filter: { since: 'yesterday' } }, 'filter.since'],
      [{ name: '', filter: {} }, 'name'],
      [{ name: 'x' }, 'filter'],
      [{ name: 'x', filter: {}, extra: true }, 'extra'],
    ] as const;
    for (const [body, param] of bad) {
      const res = await h.request('POST', '/v1/views', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toMatchObject({ code: 'validation_failed', param });
    }
    const leap = await h.request('POST', '/v1/views', { name: 'x', filter: { since: '2016-12-31T23:59:60Z' } });
    expect(leap.status).toBe(400);
    expect(leap.body.param).toBe('filter.since');
    expect((await get('/v1/views')).body.data).toHaveLength(4);
  });

  it('answers 404 for malformed and unknown ids', async () => {
    for (const id of ['nope', 'view_', newId('view'), newId('conv'), 'view_UNREAD']) {
      expect((await get(`/v1/views/${id}`)).status).toBe(404);
      expect((await h.request('PUT', `/v1/views/${id}`, { name: 'x', filter: {} })).status).toBe(404);
    }
  });

  it('needs views:write to change views, and conversations:read to read them', async () => {
    const res = await h.request('POST', '/v1/views', { name: 'x', filter: {} }, as(keys.reader));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('missing_permission');
    expect((await get('/v1/views', keys.reader)).status).toBe(200);
    expect((await get('/v1/views/counts', keys.reader)).status).toBe(200);
  });

  it('keeps another organization\'s views out of sight', async () => {
    const other = await h.otherOrg();
    const theirs = (await h.request('POST', '/v1/views', { name: 'Theirs', filter: {} }, as(other))).body;
    expect(theirs.id).toMatch(/^view_/);
    expect((await get(`/v1/views/${theirs.id}`)).status).toBe(404);
    expect((await h.request('PATCH', `/v1/views/${theirs.id}`, { name: 'x' })).status).toBe(404);
    expect((await h.request('PUT', `/v1/views/${theirs.id}`, { name: 'x', filter: {} })).status).toBe(404);
    expect((await h.request('DELETE', `/v1/views/${theirs.id}`)).status).toBe(404);
    const list = await get(`/v1/conversations?view_id=${theirs.id}`);
    expect(list.status).toBe(404);
    expect(list.body).toMatchObject({ code: 'not_found', param: 'view_id' });
    expect((await get('/v1/views')).body.data.map((v: any) => v.id)).toEqual(BUILTIN_IDS);
    expect((await get('/v1/views/counts')).body.data.map((v: any) => v.view_id)).toEqual(BUILTIN_IDS);
    // Their counts see none of our conversations.
    expect((await get('/v1/views/counts', other)).body.data.every((c: any) => c.total === 0)).toBe(true);
    expect((await get(`/v1/views/${theirs.id}`, other)).body.name).toBe('Theirs');
  });

  it('refuses more than 100 saved views', async () => {
    const other = await h.otherOrg();
    for (let i = 0; i < 100; i++) {
      expect((await h.request('POST', '/v1/views', { name: `v${i}`, filter: {} }, as(other))).status).toBe(201);
    }
    const res = await h.request('POST', '/v1/views', { name: 'one too many', filter: {} }, as(other));
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('view_limit_reached');
    expect((await get('/v1/views', other)).body.data).toHaveLength(104);
  });
});

describe('view_id on the conversation list', () => {
  it('narrows a view by the parameters sent with it', async () => {
    await setStates(convs.map((_, i) => ({ ...PLAIN, unread: i % 2, labels: i < 4 ? ['vip'] : [] })));
    const unreadIds = convs.filter((_, i) => i % 2 === 1).map((c) => c.id).sort();
    expect((await listAll('view_id=view_unread')).ids).toEqual(unreadIds);
    expect((await listAll(`view_id=view_unread&identity_id=${sales}`)).ids)
      .toEqual(convs.filter((c, i) => i % 2 === 1 && c.identityId === sales).map((c) => c.id).sort());
    // Contradicting the view matches nothing.
    expect((await listAll('view_id=view_unread&unread=false')).ids).toEqual([]);
    expect((await listAll('view_id=view_unread&archived=true')).ids).toEqual([]);

    const vip = (await h.request('POST', '/v1/views', { name: 'VIP', filter: { label: 'vip', since: '2000-01-01T00:00:00Z' } })).body;
    expect((await listAll(`view_id=${vip.id}`)).ids).toEqual(convs.slice(0, 4).map((c) => c.id).sort());
    expect((await listAll(`view_id=${vip.id}&label=vip&unread=true`)).ids).toEqual([convs[1]!.id, convs[3]!.id].sort());
    expect((await listAll(`view_id=${vip.id}&since=2100-01-01T00:00:00Z`)).ids).toEqual([]);
    const twoLabels = await get(`/v1/conversations?view_id=${vip.id}&label=other`);
    expect(twoLabels.status).toBe(400);
    expect(twoLabels.body).toMatchObject({ code: 'validation_failed', param: 'label' });

    for (const id of ['view_nope', newId('view'), 'x']) {
      const res = await get(`/v1/conversations?view_id=${id}`);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'not_found', param: 'view_id' });
    }
    await h.request('DELETE', `/v1/views/${vip.id}`);
  });

  it('resolves assigned_to=me and scope in a saved view for each caller', async () => {
    await setStates(convs.map((_, i) => ({ ...PLAIN, assignedTo: i === 0 ? members.ann : i === 1 || i === 2 ? members.bob : null })));
    const mine = (await h.request('POST', '/v1/views', { name: 'Mine', filter: { assigned_to: 'me' } }, as(keys.ann))).body;
    const team = (await h.request('POST', '/v1/views', { name: 'Team', filter: { scope: 'team' } })).body;

    expect((await listAll(`view_id=${mine.id}`, keys.ann)).ids).toEqual([convs[0]!.id]);
    expect((await listAll(`view_id=${mine.id}`, keys.bob)).ids).toEqual([convs[1]!.id, convs[2]!.id].sort());
    expect((await listAll(`view_id=${team.id}`, keys.ann)).ids).toEqual(convs.slice(1).map((c) => c.id).sort());
    const countsOf = async (key: string) => Object.fromEntries((await get('/v1/views/counts', key)).body.data.map((c: any) => [c.view_id, c.total]));
    expect((await countsOf(keys.ann))[mine.id]).toBe(1);
    expect((await countsOf(keys.bob))[mine.id]).toBe(2);
    expect((await countsOf(keys.bob))[team.id]).toBe(6);

    // A key acting as no member sees nothing in such views; naming `me` itself is still its mistake.
    expect((await listAll(`view_id=${mine.id}`)).ids).toEqual([]);
    expect((await listAll(`view_id=${team.id}`)).ids).toEqual([]);
    expect((await countsOf(h.key))[mine.id]).toBe(0);
    expect((await get('/v1/conversations?assigned_to=me')).status).toBe(400);
    await h.request('DELETE', `/v1/views/${mine.id}`);
    await h.request('DELETE', `/v1/views/${team.id}`);
  });
});

describe('identity-scoped keys', () => {
  it('count only their identity, and cannot save a view of another', async () => {
    await setStates(convs.map(() => ({ ...PLAIN, unread: 1 })));
    const helpCount = convs.filter((c) => c.identityId === help).length;
    const counts = (await get('/v1/views/counts', keys.scoped)).body.data;
    expect(counts.find((c: any) => c.view_id === 'view_all')).toEqual({ view_id: 'view_all', name: 'All', unread: helpCount, total: helpCount });
    const forbidden = await get(`/v1/views/counts?identity_id=${sales}`, keys.scoped);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe('forbidden_identity');
    // Saving any view is refused (views are the organization's): see the next test.
    const save = await h.request('POST', '/v1/views', { name: 'Sales', filter: { identity_id: sales } }, as(keys.scoped));
    expect(save.status).toBe(403);
    expect(save.body.code).toBe('missing_permission');

    // A view of another identity, saved by an org-wide key, is empty for the scoped key.
    const salesView = (await h.request('POST', '/v1/views', { name: 'Sales', filter: { identity_id: sales } })).body;
    expect((await listAll(`view_id=${salesView.id}`, keys.scoped)).ids).toEqual([]);
    expect((await get('/v1/views/counts', keys.scoped)).body.data.find((c: any) => c.view_id === salesView.id).total).toBe(0);
    expect((await get('/v1/views/counts')).body.data.find((c: any) => c.view_id === salesView.id).total).toBe(convs.length - helpCount);
    await h.request('DELETE', `/v1/views/${salesView.id}`);
  });
});

describe('identity-scoped keys and the organization\'s saved views', () => {
  it('cannot create, change or delete them (403 missing_permission), even with views:write listed', async () => {
    const listed = (await createApiKey(h.store.db, h.orgId, 'help, listing views:write', { identityId: help, permissions: ['conversations:read', 'views:write'] })).key;
    const shared = (await h.request('POST', '/v1/views', { name: 'Team inbox', filter: { archived: false } })).body;
    expect(shared.id).toMatch(/^view_/);
    for (const key of [keys.scoped, listed]) {
      for (const [method, url, body] of [
        ['POST', '/v1/views', { name: 'Mine', filter: {} }],
        ['POST', '/v1/views', { name: 'Help', filter: { identity_id: help } }],
        ['PUT', `/v1/views/${shared.id}`, { name: 'Renamed', filter: {} }],
        ['PATCH', `/v1/views/${shared.id}`, { name: 'Renamed' }],
        ['DELETE', `/v1/views/${shared.id}`, undefined],
      ] as const) {
        const res = await h.request(method, url, body, as(key));
        expect(res.status, `${method} ${url}`).toBe(403);
        expect(res.body.code).toBe('missing_permission');
        expect(res.body.detail).toContain('views:write');
      }
    }
    expect(await get(`/v1/views/${shared.id}`)).toMatchObject({ status: 200, body: { name: 'Team inbox', filter: { archived: false } } });
    expect((await get('/v1/views')).body.data.filter((v: any) => !v.builtin).map((v: any) => v.id)).toEqual([shared.id]);
    // Built-in views are not theirs to change either: the permission comes first.
    expect((await h.request('DELETE', '/v1/views/view_unread', undefined, as(keys.scoped))).body.code).toBe('missing_permission');
    await h.request('DELETE', `/v1/views/${shared.id}`);
  });

  it('still read views, their counts and their lists', async () => {
    const shared = (await h.request('POST', '/v1/views', { name: 'Everything', filter: {} })).body;
    expect((await get('/v1/views', keys.scoped)).body.data.map((v: any) => v.id)).toEqual([...BUILTIN_IDS, shared.id]);
    expect((await get(`/v1/views/${shared.id}`, keys.scoped)).body.name).toBe('Everything');
    const counts = await get('/v1/views/counts', keys.scoped);
    expect(counts.status).toBe(200);
    expect(counts.body.data.map((c: any) => c.view_id)).toEqual([...BUILTIN_IDS, shared.id]);
    expect((await listAll(`view_id=${shared.id}`, keys.scoped)).ids).toEqual(convs.filter((c) => c.identityId === help).map((c) => c.id).sort());
    await h.request('DELETE', `/v1/views/${shared.id}`);
  });

  it('leave agent members\' keys (not scoped to an identity) free to save views', async () => {
    const mine = await h.request('POST', '/v1/views', { name: 'Ann\'s', filter: { assigned_to: 'me' } }, as(keys.ann));
    expect(mine.status).toBe(201);
    expect((await h.request('PATCH', `/v1/views/${mine.body.id}`, { name: 'Ann\'s queue' }, as(keys.ann))).status).toBe(200);
    expect((await h.request('DELETE', `/v1/views/${mine.body.id}`, undefined, as(keys.ann))).status).toBe(204);
  });
});

describe('counts', () => {
  const state = fc.record({
    starred: fc.boolean(),
    unread: fc.constantFrom(0, 0, 1, 3),
    archived: fc.boolean(),
    labels: fc.subarray(['vip', 'billing']),
    assignedTo: fc.constantFrom(null, members.ann, members.bob),
    blocked: fc.constantFrom(false, false, false, true),
  });
  const params = (): fc.Arbitrary<Params> => fc.record({
    archived: fc.boolean(),
    starred: fc.boolean(),
    unread: fc.boolean(),
    label: fc.constantFrom('vip', 'billing'),
    is_blocked: fc.boolean(),
    identity_id: fc.constantFrom(help, sales),
    assigned_to: fc.constantFrom('none', 'me', members.ann),
  }, { requiredKeys: [] });
  it('equal the lists of each view, and what the states say they should be', async () => {
    const callers = [
      { key: keys.ann, memberId: members.ann, identityId: null },
      { key: keys.scoped, memberId: null, identityId: help },
    ];
    await fc.assert(fc.asyncProperty(
      fc.array(state, { minLength: convs.length, maxLength: convs.length }),
      fc.array(params(), { maxLength: 3 }),
      fc.constantFrom(...callers),
      fc.option(fc.constantFrom('help', 'sales'), { nil: undefined }),
      async (states, saved, caller, narrowTo) => {
        await setStates(states);
        const { key } = caller;
        const custom: { id: string; filter: Params }[] = [];
        try {
          for (const filter of saved) {
            const res = await h.request('POST', '/v1/views', { name: 'random', filter });
            expect(res.status).toBe(201);
            custom.push({ id: res.body.id, filter });
          }
          const identityParam = narrowTo === undefined ? undefined : narrowTo === 'help' ? help : sales;
          const countsRes = await get(`/v1/views/counts${identityParam ? `?identity_id=${identityParam}` : ''}`, key);
          if (caller.identityId !== null && identityParam !== undefined && identityParam !== caller.identityId) {
            expect(countsRes.status).toBe(403);
            return;
          }
          expect(countsRes.status).toBe(200);
          const counts = countsRes.body.data as { view_id: string; unread: number; total: number }[];
          expect(counts.map((c) => c.view_id)).toEqual([...BUILTIN_IDS, ...custom.map((v) => v.id)]);
          const filters = { ...BUILTIN_FILTERS, ...Object.fromEntries(custom.map((v) => [v.id, v.filter])) };
          for (const c of counts) {
            const viewFilter = filters[c.view_id]!;
            // A saved view naming an identity the scoped key cannot see, or `me` for a memberless key, shows nothing.
            const hidden = (caller.identityId !== null && viewFilter.identity_id !== undefined && viewFilter.identity_id !== caller.identityId)
              || (caller.memberId === null && viewFilter.assigned_to === 'me');
            const expected = hidden ? [] : convs.filter((conv, i) => matches(conv, states[i]!, viewFilter, caller)
              && (identityParam === undefined || conv.identityId === identityParam));
            const listed = await listAll(`view_id=${c.view_id}${identityParam ? `&identity_id=${identityParam}` : ''}`, key);
            expect(listed.ids).toEqual(expected.map((conv) => conv.id).sort());
            expect(c.total).toBe(listed.ids.length);
            expect(c.unread).toBe(listed.unread);
            expect(c.unread).toBe(expected.filter((conv) => states[convs.indexOf(conv)]!.unread > 0).length);
          }
        } finally {
          for (const v of custom) await h.request('DELETE', `/v1/views/${v.id}`);
        }
      },
    ), { numRuns: 25 });
  });

  it('of a view narrowed by parameters are the conversations both match', async () => {
    const caller = { memberId: members.ann, identityId: null };
    await fc.assert(fc.asyncProperty(
      fc.array(state, { minLength: convs.length, maxLength: convs.length }),
      params(), params(),
      async (states, viewFilter, narrow) => {
        await setStates(states);
        const view = (await h.request('POST', '/v1/views', { name: 'random', filter: viewFilter })).body;
        try {
          const res = await get(`/v1/conversations?limit=200&view_id=${view.id}&${qs(narrow)}`, keys.ann);
          if (viewFilter.label !== undefined && narrow.label !== undefined && viewFilter.label !== narrow.label) {
            expect(res.status).toBe(400);
            expect(res.body.param).toBe('label');
            return;
          }
          expect(res.status).toBe(200);
          // Blocked conversations show only when the view or the parameters ask for them.
          const both = convs.filter((conv, i) => matches(conv, states[i]!, { ...viewFilter, is_blocked: viewFilter.is_blocked ?? narrow.is_blocked }, caller)
            && matches(conv, states[i]!, { ...narrow, is_blocked: narrow.is_blocked ?? viewFilter.is_blocked }, caller));
          expect(res.body.data.map((c: any) => c.id).sort()).toEqual(both.map((c) => c.id).sort());
        } finally {
          await h.request('DELETE', `/v1/views/${view.id}`);
        }
      },
    ), { numRuns: 40 });
  });
});
