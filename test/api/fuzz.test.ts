/**
 * Property: no input reaches a 500. Random bodies, query strings, ids and headers are
 * thrown at every operation of the OpenAPI document; every answer is below 500, and
 * every 4xx is problem+json with a known code. Then the bodies no random generator
 * makes: JSON nested thousands of levels deep (issue 19).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/api/validation.js';
import { ERROR_CODES } from '../../src/errors.js';
import { signatureHeaders } from '../../src/channels/http/signing.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let operations: { method: string; path: string }[];
/** The operations whose request body is JSON. */
let jsonOperations: { method: string; path: string }[];
const realIds: string[] = [];

beforeAll(async () => {
  h = await harness({ maxMessageBytes: 256 * 1024 });
  const { identityId, mailboxId } = await identityWithMailbox(h, 'fuzz@shop.test', 'fuzz');
  const res = await inbound(h, rawEmail({ from: 'f@x.test', to: 'fuzz@shop.test', messageId: 'fz@x.test' }));
  const convId = res.body.results[0].conversation_id;
  const msgId = res.body.results[0].message_id;
  const contactId = (await h.request('GET', '/v1/contacts?email=f@x.test')).body.data[0].id;
  const ruleId = (await h.request('POST', '/v1/contact_rules', { action: 'allow', kind: 'domain', pattern: 'x.test' })).body.id;
  realIds.push(identityId, mailboxId, convId, msgId, contactId, ruleId);
  const doc = (await h.app.inject({ url: '/openapi.json' })).json();
  operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })))
    // A valid request to the live stream never ends; its bad input is tested in event-stream.test.ts.
    .filter((op) => !op.path.endsWith('/stream'));
  jsonOperations = Object.entries(doc.paths as Record<string, Record<string, { requestBody?: { content?: Record<string, unknown> } }>>)
    .flatMap(([path, ops]) => Object.entries(ops)
      .filter(([, op]) => op.requestBody?.content?.['application/json'] !== undefined)
      .map(([method]) => ({ method: method.toUpperCase(), path })));
});
afterAll(async () => { await h.close(); });

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const idLike = fc.oneof(
  fc.constantFrom(...['conv', 'msg', 'idn', 'acct', 'med', 'ct', 'rule', 'mem', 'key', 'sug', 'whk', 'view'].map((p) => `${p}_01h455vb4pex5vsknk084sn02q`), 'view_unread', 'me', 'none'),
  fc.string({ maxLength: 120 }),
  fc.constant('x'.repeat(300)),
);
const body = fc.oneof(
  jsonValue.map((v) => ({ payload: JSON.stringify(v), type: 'application/json' })),
  fc.record({ text: fc.string(), identity_id: idLike, to: fc.oneof(fc.emailAddress(), fc.string()), subject: fc.string(), labels: fc.array(fc.string()), archived: jsonValue, handle: fc.string(), address: fc.string(), smtp: jsonValue })
    .map((v) => ({ payload: JSON.stringify(v), type: 'application/json' })),
  // Contacts and contact rules: bodies close enough to valid to reach the services.
  fc.record({
    action: fc.constantFrom('block', 'allow', 'x'), kind: fc.constantFrom('address', 'domain', 'number_prefix'),
    pattern: fc.oneof(fc.string(), fc.emailAddress(), fc.domain(), fc.stringMatching(/^\+\d{0,16}$/)), identity_id: fc.oneof(idLike, fc.constant(null)),
  }, { requiredKeys: [] }).map((v) => ({ payload: JSON.stringify(v), type: 'application/json' })),
  fc.record({
    display_name: fc.oneof(fc.string(), fc.constant(null)), company: fc.string(), avatar_url: fc.oneof(fc.webUrl(), fc.string()),
    attributes: fc.oneof(fc.dictionary(fc.string(), jsonValue, { maxKeys: 5 }), jsonValue),
    addresses: fc.array(fc.record({ address: fc.oneof(fc.emailAddress(), fc.string()) }), { maxLength: 3 }),
    address: fc.emailAddress(), subject: fc.oneof(fc.string(), fc.constant(null)), identity_id: idLike,
  }, { requiredKeys: [] }).map((v) => ({ payload: JSON.stringify(v), type: 'application/json' })),
  // Inbox: members, keys, assignment, read state, notes, calls, suggestions and views.
  fc.record({
    email: fc.oneof(fc.emailAddress(), fc.string()), role: fc.constantFrom('owner', 'admin', 'agent', 'x'), name: fc.oneof(fc.string(), fc.constant(null)),
    member_id: fc.oneof(idLike, fc.constant(null)), identity_id: fc.oneof(idLike, fc.constant(null)),
    permissions: fc.oneof(fc.constant(null), fc.array(fc.constantFrom('conversations:read', 'messages:send', 'members:manage', 'x'), { maxLength: 4 })),
    assigned_to: fc.oneof(idLike, fc.constant(null)), starred: jsonValue, unread_count: fc.oneof(fc.integer(), jsonValue),
    text: fc.string(), direction: fc.constantFrom('inbound', 'outbound', 'x'), duration_s: fc.integer(), started_at: fc.oneof(fc.string(), fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toISOString()))),
    recording_url: fc.oneof(fc.webUrl(), fc.string()), model: fc.string(), filter: fc.oneof(jsonValue, fc.record({ unread: fc.boolean(), label: fc.string(), assigned_to: idLike }, { requiredKeys: [] })),
  }, { requiredKeys: [] }).map((v) => ({ payload: JSON.stringify(v), type: 'application/json' })),
  fc.string().map((s) => ({ payload: s, type: 'application/json' })),
  fc.uint8Array({ maxLength: 2000 }).map((b) => ({ payload: Buffer.from(b) as string | Buffer, type: 'message/rfc822' })),
  fc.tuple(fc.string(), fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data', '')).map(([s, type]) => ({ payload: s, type })),
);
const queryPart = fc.dictionary(
  fc.constantFrom('limit', 'cursor', 'order', 'types', 'identity_id', 'archived', 'with', 'with_domain', 'since', 'until', 'label', 'to', 'q', 'email', 'action', 'kind', 'is_blocked', 'starred', 'unread', 'assigned_to', 'scope', 'view_id', 'include', 'mark_read', 'status', 'format', 'zzz'),
  fc.oneof(fc.string({ maxLength: 40 }), fc.integer().map(String), fc.constantFrom('true', '-1', '0', '1e9', 'desc', 'message', '2026-01-01T00:00:00Z', 'me', 'none', 'mine', 'team', 'calls,notes', 'view_unread', 'jsonl')),
  { maxKeys: 4 },
).map((d) => new URLSearchParams(d).toString());

describe('no input reaches a 500', () => {
  it('holds for random requests to every documented operation', async () => {
    expect(operations.length).toBeGreaterThan(15);
    await fc.assert(fc.asyncProperty(
      fc.nat(), fc.oneof(idLike, fc.nat().map((i) => realIds[i % realIds.length]!)), body, queryPart,
      fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
      async (opIndex, id, b, query, idempotencyKey) => {
        const op = operations[opIndex % operations.length]!;
        const url = op.path.replace(/\{[a-z_]+\}/g, encodeURIComponent(id)) + (query ? `?${query}` : '');
        const headers: Record<string, string> = { authorization: `Bearer ${h.key}` };
        if (b.type) headers['content-type'] = b.type;
        if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey.replace(/[^\x20-\x7e]/g, '');
        const withBody = !['GET', 'HEAD', 'DELETE'].includes(op.method);
        const res = await h.app.inject({ method: op.method as any, url, headers, payload: withBody ? b.payload : undefined });
        expect(res.statusCode, `${op.method} ${url} -> ${res.body.slice(0, 300)}`).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(res.headers['content-type'], `${op.method} ${url} -> ${res.statusCode} ${res.body.slice(0, 200)}`).toMatch(/^application\/problem\+json/);
          expect(Object.keys(ERROR_CODES)).toContain(res.json().code);
        }
      },
    ), { numRuns: 600 });
  });
});

/** JSON text of `levels` objects and arrays, alternately, around `leaf` (`[{"a":[{"a":…}]}]`). */
function nested(levels: number, leaf = '"x"'): string {
  let out = leaf;
  for (let i = levels - 1; i >= 0; i--) out = i % 2 === 0 ? `[${out}]` : `{"a":${out}}`;
  return out;
}

/** The path of the leaf of {@link nested}, as `param` names it. */
const nestedPath = (levels: number) => Array.from({ length: levels }, (_, i) => (i % 2 === 0 ? '0' : 'a')).join('.');

describe('deeply nested JSON', () => {
  const deep = [
    ['5,000 levels of objects and arrays', nested(5000)],
    ['5,000 levels of arrays', `${'['.repeat(5000)}${']'.repeat(5000)}`],
    ['5,000 levels of objects in a field', `{"text":"hi",${'{"a":'.repeat(5000).slice(1)}1${'}'.repeat(5000)}`],
    ['100,000 levels of arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
  ] as const;

  it('is a 400 validation_failed on every JSON-body route, before the body is walked, never a 500', async () => {
    expect(jsonOperations.length).toBeGreaterThanOrEqual(30);
    let slowest = 0;
    for (const op of jsonOperations.filter((o) => !o.path.startsWith('/v1/inbound/'))) {
      const url = op.path.replace(/\{[a-z_]+\}/g, realIds[2]!);
      for (const [what, payload] of deep) {
        const started = performance.now();
        const res = await h.app.inject({
          method: op.method as any, url, payload,
          headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json', 'idempotency-key': `deep-${op.method}-${url}` },
        });
        slowest = Math.max(slowest, performance.now() - started);
        expect(res.statusCode, `${op.method} ${op.path}, ${what}: ${res.body.slice(0, 300)}`).toBe(400);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json(), `${op.method} ${op.path}, ${what}`).toMatchObject({ code: 'validation_failed', param: 'body', fix: expect.stringContaining(String(MAX_JSON_DEPTH)) });
      }
    }
    // A stack overflow took about 220 ms; the depth check takes well under a millisecond.
    expect(slowest).toBeLessThan(1000);
  });

  it('is a 400 on a provider webhook that parses its own body (HTTP channel), after the signature', async () => {
    // Its own identity: the random requests above may have deleted the others.
    const identity = await h.request('POST', '/v1/identities', { handle: 'deep-json' });
    const account = await h.request('POST', '/v1/channel_accounts', {
      identity_id: identity.body.id, channel: 'http', address: 'deep-json', config: { outbound_url: 'http://127.0.0.1:9/outbound' },
    });
    expect(account.status, JSON.stringify(account.body)).toBe(201);
    const payload = nested(5000);
    const headers = { ...signatureHeaders(account.body.secret, 'wh_deep', payload), 'content-type': 'application/json' };
    const res = await h.app.inject({ method: 'POST', url: `/v1/inbound/http/${account.body.id}`, headers, payload });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
    expect(res.json()).toMatchObject({ code: 'validation_failed', param: 'body' });
  });

  it(`lets bodies ${MAX_JSON_DEPTH} levels deep through to the schema, and names a NUL character at any depth`, async () => {
    const atLimit = await h.request('POST', '/v1/identities', `{"handle":"deep","a":${nested(MAX_JSON_DEPTH - 1)}}`);
    expect(atLimit.status).toBe(400);
    expect(atLimit.body).toMatchObject({ code: 'validation_failed', param: 'a' }); // the schema's answer: no such field
    const overLimit = await h.request('POST', '/v1/identities', `{"handle":"deep","a":${nested(MAX_JSON_DEPTH)}}`);
    expect(overLimit.body).toMatchObject({ code: 'validation_failed', param: 'body' });

    const nul = await h.request('POST', '/v1/identities', `{"handle":"deep","a":${nested(MAX_JSON_DEPTH - 1, '"x\\u0000"')}}`);
    expect(nul.body).toMatchObject({ code: 'validation_failed', param: `a.${nestedPath(MAX_JSON_DEPTH - 1)}` });
    expect(nul.body.detail).toContain('NUL');
    // Wide rather than deep: the first NUL in document order.
    const wide = await h.request('POST', '/v1/identities', { handle: 'wide', a: [...Array.from({ length: 50_000 }, () => 'x'), 'x\u0000', { b: '\u0000' }] });
    expect(wide.body).toMatchObject({ code: 'validation_failed', param: 'a.50000' });
  });
});
