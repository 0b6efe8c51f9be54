/**
 * The edges of the HTTP contract (issue 18): closed bodies and query strings (an unknown
 * field or parameter is a 400 naming it, PATCH included), body-less POSTs sent with an
 * empty JSON body, 405 with `Allow` for a wrong method, `WWW-Authenticate` on 401, and
 * validation errors in words, every one listed in `errors` (at most 20).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let conv: string;
let identityId: string;
/** The documented operations, `{method, path}` with `{…}` path parameters. */
let operations: { method: string; path: string; json: boolean }[];

beforeAll(async () => {
  h = await harness();
  ({ identityId } = await identityWithMailbox(h, 'edges@shop.test', 'edges'));
  const res = await inbound(h, rawEmail({ from: 'e@x.test', to: 'edges@shop.test', messageId: 'edge1@x.test' }));
  conv = res.body.results[0].conversation_id;
  const doc = (await h.app.inject({ url: '/openapi.json' })).json();
  operations = Object.entries(doc.paths as Record<string, Record<string, { requestBody?: { content?: Record<string, unknown> } }>>)
    .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(), path, json: op.requestBody?.content?.['application/json'] !== undefined,
    })));
});
afterAll(async () => { await h.close(); });

/** A documented path with its parameters filled by well-formed ids that name nothing. */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'x_01h455vb4pex5vsknk084sn02q');
/** The operations an API key calls (provider webhooks authenticate and stay open themselves). */
/** Operations an API key calls (not the providers' webhooks, nor the session's own routes, which take the cookie only). */
const keyed = () => operations.filter((o) => o.path.startsWith('/v1/') && !o.path.startsWith('/v1/inbound/') && o.path !== '/v1/auth/session');

function expectValidation(res: { status: number; body: any; headers: Record<string, unknown> }, param: string) {
  expect(res.status).toBe(400);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe('validation_failed');
  expect(res.body.errors.map((e: any) => e.param)).toContain(param);
}

/** Ajv's own wording, which never reaches a caller. */
const RAW_AJV = /must have required property|must be equal to one of the allowed values|must NOT have|must match "|must be equal to constant/;

describe('closed request bodies', () => {
  it('refuses an unknown field on every JSON operation, naming it', async () => {
    const json = keyed().filter((o) => o.json);
    expect(json.map((o) => `${o.method} ${o.path}`)).toContain('PATCH /v1/conversations/{id}');
    for (const o of json) {
      const res = await h.request(o.method, concrete(o.path), { zz_not_a_field: 1 });
      expect(res.status, `${o.method} ${o.path}`).toBe(400);
      expectValidation(res, 'zz_not_a_field');
    }
  });

  it('refuses any unknown field next to valid ones in a PATCH, and changes nothing', async () => {
    const known = new Set(['archived', 'starred', 'unread_count', 'labels']);
    const name = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !known.has(s) && s !== '__proto__');
    // (A value holding a `__proto__` key is refused as a whole body first, prototype poisoning: not this property.)
    const value = fc.jsonValue({ maxDepth: 1 }).filter((v) => !JSON.stringify(v).includes('"__proto__"'));
    await fc.assert(fc.asyncProperty(name, value, async (field, value) => {
      const res = await h.request('PATCH', `/v1/conversations/${conv}`, { archived: true, [field]: value });
      expectValidation(res, field);
      expect(res.body.param).toBe(field);
    }), { numRuns: 40 });
    expect((await h.request('GET', `/v1/conversations/${conv}`)).body.archived).toBe(false);
  });

  it('names an unknown field inside a nested object by its path, with the allowed ones', async () => {
    const res = await h.request('POST', '/v1/mailboxes', { identity_id: identityId, address: 'n@shop.test', smtp: { host: 'relay.test', port: 25, tls: true } });
    expectValidation(res, 'smtp.tls');
    expect(res.body.detail).toMatch(/^smtp\.tls is not a field of smtp; allowed: host, port, secure, user, password/);
  });

  it('refuses a body on an endpoint that takes none, but accepts {}', async () => {
    const res = await h.request('POST', `/v1/conversations/${conv}/read`, { all: true });
    expectValidation(res, 'all');
    expect((await h.request('POST', `/v1/conversations/${conv}/read`, {})).status).toBe(200);
    expect((await h.request('PUT', `/v1/conversations/${conv}/star`, [1])).body).toMatchObject({ code: 'validation_failed', param: 'body' });
  });
});

describe('closed query strings', () => {
  it('refuses ?search= on the conversation list instead of listing everything, and lists the parameters it takes', async () => {
    const res = await h.request('GET', '/v1/conversations?search=zzz');
    expectValidation(res, 'search');
    expect(res.body.detail).toMatch(/^search is not a query parameter of this endpoint; allowed: .*\bq\b/);
    expect((await h.request('GET', '/v1/conversations?q=zzz')).status).toBe(200);
  });

  it('refuses an unknown parameter on every operation without a JSON body, those without parameters included', async () => {
    // (A JSON body is validated first: its problems come first, and alone.)
    for (const o of keyed().filter((op) => !op.json)) {
      const url = `${concrete(o.path)}?zz_not_a_parameter=1`;
      const res = await h.request(o.method, url);
      expect(res.status, `${o.method} ${url}`).toBe(400);
      expectValidation(res, 'zz_not_a_parameter');
    }
    expectValidation(await h.request('POST', `/v1/conversations/${conv}/labels?zz_not_a_parameter=1`, { labels: ['a'] }), 'zz_not_a_parameter');
    expectValidation(await h.request('PATCH', `/v1/conversations/${conv}?archived=true`, { starred: true }), 'archived');
  });

  it('refuses any parameter the list does not define, whatever its name or value', async () => {
    const known = new Set(['identity_id', 'channel', 'archived', 'with', 'with_domain', 'since', 'until', 'overdue', 'starred', 'unread', 'label', 'assigned_to', 'scope', 'is_blocked', 'q', 'view_id', 'limit', 'cursor']);
    const name = fc.stringMatching(/^[a-z_]{1,16}$/).filter((s) => !known.has(s) && s !== '__proto__');
    await fc.assert(fc.asyncProperty(name, fc.string({ maxLength: 10 }), async (param, value) => {
      const res = await h.request('GET', `/v1/conversations?${param}=${encodeURIComponent(value)}`);
      expectValidation(res, param);
    }), { numRuns: 40 });
  });
});

describe('body-less POSTs', () => {
  const bodyless = () => [
    ['POST', `/v1/conversations/${conv}/read`], ['POST', `/v1/conversations/${conv}/unread`],
    ['PUT', `/v1/conversations/${conv}/star`], ['DELETE', `/v1/conversations/${conv}/star`],
    ['POST', `/v1/conversations/${conv}/typing`],
  ] as const;

  it('accepts an empty body sent as application/json as no body', async () => {
    for (const [method, url] of bodyless()) {
      for (const payload of ['', '  \r\n']) {
        const res = await h.request(method, url, payload, { 'content-type': 'application/json; charset=utf-8' });
        expect(res.status, `${method} ${url} ${JSON.stringify(payload)}`).toBeLessThan(300);
      }
      const bare = await h.app.inject({ method, url, headers: { authorization: `Bearer ${h.key}` } });
      expect(bare.statusCode, `${method} ${url} without a body`).toBeLessThan(300);
    }
  });

  it('still says a body is missing where one is needed', async () => {
    const res = await h.request('POST', `/v1/conversations/${conv}/notes`, '', { 'content-type': 'application/json' });
    expectValidation(res, 'body');
    expect(res.body.detail).toMatch(/body must be a JSON object/);
    expect((await h.request('POST', `/v1/conversations/${conv}/notes`, '{"text":', {})).body.code).toBe('validation_failed');
  });
});

describe('405 method not allowed', () => {
  it('answers a documented path called with another method with 405, Allow and a fix', async () => {
    const byPath = new Map<string, Set<string>>();
    for (const o of keyed()) byPath.set(o.path, (byPath.get(o.path) ?? new Set()).add(o.method));
    for (const [path, methods] of byPath) {
      const allowed = [...methods, ...(methods.has('GET') ? ['HEAD'] : [])].sort();
      const url = concrete(path);
      // A method another route of which takes this path as a parameter value routes there (PUT /v1/views/counts).
      const routed = (m: string) => keyed().some((o) => o.method === m && new RegExp(`^${o.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(url));
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => !methods.has(m) && !routed(m))) {
        const res = await h.request(method, url);
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
        expect(res.headers.allow, `${method} ${path}`).toBe(allowed.join(', '));
        expect(res.body).toMatchObject({ code: 'method_not_allowed', status: 405, retryable: false });
        expect(res.body.fix).toContain(allowed[0]);
      }
    }
  });

  it('keeps 404 for a path no method answers', async () => {
    for (const url of ['/v1/nothing-here', '/v1/conversations/x/nothing', '/nothing']) {
      const res = await h.request('DELETE', url);
      expect(res.status, url).toBe(404);
      expect(res.body.code).toBe('not_found');
      expect(res.headers.allow).toBeUndefined();
    }
  });

  it('answers the public paths too', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/healthz' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });
});

describe('401 challenge', () => {
  it('says Bearer in WWW-Authenticate, and invalid_token only when a bearer token was refused', async () => {
    const none = await h.app.inject({ method: 'GET', url: '/v1/conversations' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="switchboard"');
    const basic = await h.request('GET', '/v1/conversations', undefined, { authorization: 'Basic dXNlcjpwYXNz' });
    expect(basic.headers['www-authenticate']).toBe('Bearer realm="switchboard"');
    for (const token of ['nope', `${h.key.slice(0, -1)}${h.key.endsWith('A') ? 'B' : 'A'}`]) {
      const res = await h.request('GET', '/v1/conversations', undefined, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="switchboard", error="invalid_token"/);
    }
  });
});

describe('validation errors in words', () => {
  it('says a missing field is required', async () => {
    const res = await h.request('POST', '/v1/mailboxes', { address: 'x@shop.test' });
    expect(res.body).toMatchObject({ code: 'validation_failed', param: 'identity_id', detail: 'identity_id is required.', errors: [{ param: 'identity_id', detail: 'identity_id is required' }] });
  });

  it('lists the allowed values of an enumeration', async () => {
    const order = await h.request('GET', `/v1/conversations/${conv}/events?order=sideways`);
    expect(order.body.errors).toEqual([{ param: 'order', detail: 'order must be one of: asc, desc' }]);
    const types = await h.request('GET', '/v1/events?types=nope');
    expect(types.body.detail).toMatch(/^types\.0 must be one of: message, message_status, /);
    const channel = await h.request('POST', '/v1/messages', { identity_id: identityId, channel: 'fax', to: 'a@b.test', text: 'hi' });
    expect(channel.body.param).toBe('channel');
    expect(channel.body.detail).toMatch(/^channel must be one of: email, sms/);
  });

  it('lists every problem of a call, each once, in words', async () => {
    const fields = ['direction', 'duration_s', 'started_at', 'summary', 'recording_url', 'zz_unknown'] as const;
    const broken: Record<(typeof fields)[number], fc.Arbitrary<unknown>> = {
      direction: fc.constantFrom(undefined, 'sideways', 3),
      duration_s: fc.constantFrom(undefined, -1, 'long', 1.5),
      started_at: fc.constantFrom('yesterday', 5),
      summary: fc.constantFrom(5, true, ['x']),
      recording_url: fc.constantFrom('ftp://x.test/a', 7),
      zz_unknown: fc.constant('x'),
    };
    const valid = { direction: 'inbound', duration_s: 60, started_at: '2024-05-01T12:00:00Z', summary: 'ok', recording_url: 'https://x.test/r.mp3' };
    const chosen = fc.subarray([...fields], { minLength: 1 }).chain((names) => fc.record(Object.fromEntries(names.map((n) => [n, broken[n]])) as Record<string, fc.Arbitrary<unknown>>));
    await fc.assert(fc.asyncProperty(chosen, async (bad) => {
      const body: Record<string, unknown> = { ...valid };
      for (const [k, v] of Object.entries(bad)) {
        if (v === undefined) delete body[k];
        else body[k] = v;
      }
      const res = await h.request('POST', `/v1/conversations/${conv}/calls`, body);
      expect(res.status).toBe(400);
      const params = res.body.errors.map((e: any) => e.param);
      expect([...params].sort()).toEqual(Object.keys(bad).sort());
      expect(res.body.param).toBe(params[0]);
      for (const e of res.body.errors) {
        expect(e.detail.startsWith(e.param)).toBe(true);
        expect(e.detail).not.toMatch(RAW_AJV);
        if (e.param === 'direction' && bad.direction !== undefined) expect(e.detail).toBe('direction must be one of: inbound, outbound');
        if (bad[e.param as keyof typeof bad] === undefined) expect(e.detail).toBe(`${e.param} is required`);
      }
      expect(res.body.detail).toContain(res.body.errors[0].detail);
      if (params.length > 1) expect(res.body.detail).toContain(`${params.length - 1} more problem`);
    }), { numRuns: 60 });
  });

  it('lists at most 20 errors of a body with thousands, and says how many there are', async () => {
    const res = await h.request('POST', `/v1/conversations/${conv}/labels`, { labels: Array.from({ length: 5000 }, (_, i) => i) });
    expect(res.status).toBe(400);
    expect(res.body.errors).toHaveLength(20);
    expect(res.body.errors[0]).toEqual({ param: 'labels', detail: 'labels must have at most 100 items' });
    expect(res.body.errors[1]).toEqual({ param: 'labels.0', detail: 'labels.0 must be a string' });
    expect(res.body.detail).toContain('5000 more problems');
    expect(JSON.stringify(res.body).length).toBeLessThan(4_000);
  });

  it('reports the first error alone of a body of more than 10,000 values, cheaply', async () => {
    const started = Date.now();
    const res = await h.request('POST', `/v1/conversations/${conv}/labels`, { labels: Array.from({ length: 100_000 }, (_, i) => i) });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(res.body).toMatchObject({ code: 'validation_failed', param: 'labels', detail: 'labels must have at most 100 items.' });
    expect(res.body.errors).toEqual([{ param: 'labels', detail: 'labels must have at most 100 items' }]);
  });
});
