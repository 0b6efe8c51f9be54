/**
 * Tenant isolation, walked over the whole OpenAPI document: every operation is called
 * with another organization's key, and with a key scoped to another identity, on real
 * resources of the first organization (in the path, and as `*_id` fields of a request
 * body built from the operation's schema). The answer is a 404 or 403 where a resource
 * is named, and never carries an id of what the caller must not see.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { dispatchEvents } from '../../src/services/webhook-delivery.js';
import { createApiKey } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let doc: { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };
/** The first organization's resources: by path segment (`conversations`) the id to use. */
const orgA = new Map<string, string>();
/** The sales identity's resources (what a key scoped to support must not see). */
const sales = new Map<string, string>();

/** Path segment → table whose first row (of the org, or of sales) stands in for `{param}`. */
const TABLES: Record<string, string> = {
  conversations: 'conversations', messages: 'messages', media: 'media', identities: 'identities', mailboxes: 'channel_accounts',
  members: 'members', api_keys: 'api_keys', webhook_endpoints: 'webhook_endpoints', deliveries: 'webhook_deliveries',
  contacts: 'contacts', contact_rules: 'contact_rules', views: 'views', suggestions: 'suggestions', training_pairs: 'training_pairs',
};
/** Body fields naming a resource, by the id prefix they take. */
const FIELD_SEGMENT: Record<string, string> = {
  identity_id: 'identities', conversation_id: 'conversations', member_id: 'members', assigned_to: 'members',
  account_id: 'mailboxes', contact_id: 'contacts', view_id: 'views', media_ids: 'media',
};

beforeAll(async () => {
  h = await harness();
  const support = await identityWithMailbox(h, 'support@iso.test', 'support');
  const salesIdn = await identityWithMailbox(h, 'sales@iso.test', 'sales');
  await inbound(h, rawEmail({ from: 'ann@cust.test', to: 'support@iso.test', messageId: 'iso-1@cust.test' }));
  const raw = [
    'From: bob@cust.test', 'To: sales@iso.test', 'Subject: Quote', 'Message-ID: <iso-2@cust.test>', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', '', 'See attached.', '--b',
    'Content-Type: application/pdf; name="q.pdf"', 'Content-Disposition: attachment; filename="q.pdf"', 'Content-Transfer-Encoding: base64', '',
    Buffer.from('%PDF quote').toString('base64'), '--b--', '',
  ].join('\r\n');
  const salesConv = (await inbound(h, raw)).body.results[0].conversation_id as string;
  const member = (await h.request('POST', '/v1/members', { email: 'm@iso.test', role: 'agent' })).body.id;
  await h.request('POST', `/v1/conversations/${salesConv}/assign`, { assigned_to: member });
  const hook = (await h.request('POST', '/v1/webhook_endpoints', { url: 'http://127.0.0.1:9/hook' })).body.id;
  const rule = (await h.request('POST', '/v1/contact_rules', { action: 'block', kind: 'domain', pattern: 'spam.test', identity_id: salesIdn.identityId })).body.id;
  await h.request('POST', `/v1/conversations/${salesConv}/notes`, { text: 'secret note' });
  await dispatchEvents(h.store, systemClock);
  doc = (await h.app.inject({ url: '/openapi.json' })).json();
  // Create one of everything the document can create, so every `{param}` has a real resource.
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (!ops.post || /\{/.test(path) && !path.startsWith('/v1/conversations/{id}/')) continue;
    if (/\/(messages|read|unread|assign|typing|archive|labels|notes|calls)$/.test(path) || path.includes('inbound') || path.includes('/send') || path.includes('/dismiss')) continue;
    const body = sample(requestSchema(ops.post), '', orgA);
    await h.request('POST', path.replace('{id}', salesConv), body);
  }
  const db = h.store.db as any;
  for (const [segment, table] of Object.entries(TABLES)) {
    const row = await db.selectFrom(table).select('id').where('org_id', '=', h.orgId).orderBy('id').limit(1).executeTakeFirst();
    if (row) orgA.set(segment, row.id);
  }
  orgA.set('identities', salesIdn.identityId);
  orgA.set('mailboxes', salesIdn.mailboxId);
  orgA.set('conversations', salesConv);
  orgA.set('webhook_endpoints', hook);
  orgA.set('contact_rules', rule);
  const line = await h.request('POST', '/v1/channel_accounts', {
    identity_id: salesIdn.identityId, channel: 'sms', address: '+14155550100', config: { account_sid: 'AC1', auth_token: 'secret' },
  });
  orgA.set('channel_accounts', line.body.id);
  const salesMessage = await db.selectFrom('messages').select('id').where('conversation_id', '=', salesConv).executeTakeFirstOrThrow();
  orgA.set('messages', salesMessage.id);
  const media = await db.selectFrom('media').select('id').where('message_id', '=', salesMessage.id).executeTakeFirstOrThrow();
  orgA.set('media', media.id);
  for (const segment of ['identities', 'mailboxes', 'channel_accounts', 'conversations', 'messages', 'media', 'contact_rules']) sales.set(segment, orgA.get(segment)!);
  const salesSuggestion = await db.selectFrom('suggestions').select('id').where('conversation_id', '=', salesConv).executeTakeFirst();
  if (salesSuggestion) { orgA.set('suggestions', salesSuggestion.id); sales.set('suggestions', salesSuggestion.id); }
  void support;
});
afterAll(async () => { await h.close(); });

function requestSchema(op: any): any {
  return op.requestBody?.content?.['application/json']?.schema;
}

function resolve(schema: any): any {
  if (schema?.$ref) return resolve(doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')]);
  return schema;
}

/** A value valid for `schema` (enough to get past validation), with resource ids taken from `ids`. */
function sample(raw: any, name: string, ids: Map<string, string>): any {
  const schema = resolve(raw);
  if (!schema) return undefined;
  const idFor = FIELD_SEGMENT[name];
  if (idFor && ids.has(idFor)) return schema.type === 'array' ? [ids.get(idFor)] : ids.get(idFor);
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return sample(options.find((o: any) => resolve(o)?.type !== 'null') ?? options[0], name, ids);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) out[key] = sample(schema.properties?.[key], key, ids);
      for (const [key, prop] of Object.entries(schema.properties ?? {})) {
        if (!(key in out) && FIELD_SEGMENT[key] && ids.has(FIELD_SEGMENT[key]!)) out[key] = sample(prop, key, ids);
      }
      // A body of optional fields only (a PATCH) gets its first one, so it changes something.
      const first = Object.entries(schema.properties ?? {})[0];
      if (Object.keys(out).length === 0 && first) out[first[0]] = sample(first[1], first[0], ids);
      return out;
    }
    case 'array': return Array.from({ length: Math.max(1, schema.minItems ?? 0) }, () => sample(schema.items, name, ids));
    case 'integer': case 'number': return Math.max(schema.minimum ?? 1, 1);
    case 'boolean': return true;
    case 'null': return null;
    case 'string': {
      if (schema.format === 'email') return 'probe@elsewhere.test';
      if (schema.format === 'date-time') return '2030-01-01T00:00:00Z';
      if (schema.format === 'uri') return 'https://example.test/x';
      if (schema.pattern === '^https?://') return 'https://example.test/x';
      return 'probe'.padEnd(schema.minLength ?? 1, 'x');
    }
    default: return {};
  }
}

interface Op { method: string; path: string; op: any }
const operations = (): Op[] => Object.entries(doc.paths)
  .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, op })))
  .filter((o) => o.path.startsWith('/v1/') && !o.path.endsWith('/stream') && !o.path.startsWith('/v1/inbound'));

/** The URL with each `{param}` replaced by the id of the resource named by the segment before it. */
function urlFor(path: string, ids: Map<string, string>): { url: string; named: string[] } {
  const named: string[] = [];
  const url = path.replace(/\/([a-z_]+)\/\{[a-z_]+\}/g, (_m, segment: string) => {
    named.push(segment);
    return `/${segment}/${ids.get(segment) ?? `${segment}_01h455vb4pex5vsknk084sn02q`}`;
  });
  return { url, named };
}

async function call(o: Op, key: string, ids: Map<string, string>) {
  const { url: path, named } = urlFor(o.path, ids);
  const query = new URLSearchParams();
  for (const p of o.op.parameters ?? []) if (p.in === 'query' && p.required) query.set(p.name, String(sample(p.schema, p.name, ids)));
  const url = query.size > 0 ? `${path}?${query}` : path;
  const body = ['GET', 'DELETE'].includes(o.method) ? undefined : sample(requestSchema(o.op), '', ids) ?? {};
  const res = await h.request(o.method, url, body, { authorization: `Bearer ${key}` });
  // An id the caller sent may be echoed back in an error; any other is a leak.
  const sent = url + JSON.stringify(body ?? null);
  return { url, named, res, text: JSON.stringify(res.body), leaked: (ids: string[]) => ids.filter((id) => !sent.includes(id) && JSON.stringify(res.body).includes(id)) };
}

describe('tenant isolation over every operation', () => {
  it('another organization\'s key gets 404 for every resource, and never an id of this one', async () => {
    const other = await h.otherOrg();
    const secrets = [...orgA.values()];
    const before = await h.store.db.selectFrom('events').select((eb) => eb.fn.countAll().as('n')).where('org_id', '=', h.orgId).executeTakeFirstOrThrow();
    const ops = operations();
    expect(ops.length).toBeGreaterThan(40);
    // Every `{param}` of the document stands for a real resource, not a made-up id.
    const unfilled = ops.flatMap((o) => urlFor(o.path, orgA).named).filter((segment) => !orgA.has(segment));
    expect(unfilled).toEqual([]);
    for (const o of ops) {
      const { url, named, res, text, leaked } = await call(o, other, orgA);
      const where = `${o.method} ${url} -> ${res.status} ${text.slice(0, 200)}`;
      expect(res.status, where).toBeLessThan(500);
      if (named.length > 0) expect(res.status, where).toBe(404);
      expect(leaked(secrets), where).toEqual([]);
    }
    const after = await h.store.db.selectFrom('events').select((eb) => eb.fn.countAll().as('n')).where('org_id', '=', h.orgId).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
    expect((await h.request('GET', `/v1/conversations/${orgA.get('conversations')}`)).status).toBe(200);
  });

  it('a key scoped to another identity gets 404 or 403 for that identity\'s resources, and never their ids', async () => {
    const supportId = (await h.request('GET', '/v1/identities?limit=200')).body.data.find((i: any) => i.handle === 'support').id;
    const scoped = (await createApiKey(h.store.db, h.orgId, 'support only', { identityId: supportId })).key;
    const secrets = [...sales.values()];
    const salesConv = sales.get('conversations')!;
    const eventsBefore = (await h.request('GET', `/v1/conversations/${salesConv}/events?limit=200`)).body.data.length;
    for (const o of operations()) {
      const { url, named, res, text, leaked } = await call(o, scoped, orgA);
      const where = `${o.method} ${url} -> ${res.status} ${text.slice(0, 200)}`;
      expect(res.status, where).toBeLessThan(500);
      if (named.some((segment) => sales.has(segment))) expect([403, 404], where).toContain(res.status);
      expect(leaked(secrets), where).toEqual([]);
    }
    expect((await h.request('GET', `/v1/conversations/${salesConv}/events?limit=200`)).body.data.length).toBe(eventsBefore);
  });
});
