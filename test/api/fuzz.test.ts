/**
 * Property: no input reaches a 500. Random bodies, query strings, ids and headers are
 * thrown at every operation of the OpenAPI document; every answer is below 500, and
 * every 4xx is problem+json with a known code.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let operations: { method: string; path: string }[];
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
