/**
 * The OpenAPI document is fit for client generation (issue 16): every operation has a
 * unique operationId from src/api/openapi-operations.ts, every status the server can
 * answer is documented as problem+json, Redocly's strict ruleset finds nothing, and the
 * copy the SDK is generated from (packages/sdk/openapi.json) is the current document.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatOpenApiDocument } from '../../src/api/openapi-document.js';
import { OPERATIONS, operationKey } from '../../src/api/openapi-operations.js';
import { harness, type Harness } from '../helpers.js';

type Operation = {
  operationId?: string;
  tags?: string[];
  summary?: string;
  security?: unknown[];
  parameters?: { in: string; name: string }[];
  requestBody?: unknown;
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema?: { $ref?: string } }> }>;
};

const SDK_DOCUMENT = path.resolve(import.meta.dirname, '../../packages/sdk/openapi.json');

let h: Harness;
let doc: { paths: Record<string, Record<string, Operation>> };
let operations: { key: string; method: string; path: string; op: Operation }[];

beforeAll(async () => {
  // Every operation is called once without a key below: no lock-out after 20 of them.
  h = await harness({ rateLimitAuthFailures: 0 });
  doc = (await h.app.inject({ url: '/openapi.json' })).json();
  operations = Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([method, op]) => ({
    key: operationKey(method, p), method: method.toUpperCase(), path: p, op,
  })));
});
afterAll(async () => { await h.close(); });

const statuses = (op: Operation) => Object.keys(op.responses);
/** Operations an API key calls: the bearer scheme applies (provider webhooks and signed media URLs say `security: []`). */
const keyed = () => operations.filter((o) => o.path.startsWith('/v1/') && !(Array.isArray(o.op.security) && o.op.security.length === 0));

describe('operation ids', () => {
  it('gives every operation a camelCase operationId', () => {
    const missing = operations.filter((o) => o.op.operationId === undefined).map((o) => o.key);
    expect(missing, 'add these routes to OPERATIONS in src/api/openapi-operations.ts').toEqual([]);
    for (const { key, op } of operations) expect(op.operationId, key).toMatch(/^[a-z][A-Za-z0-9]*$/);
  });

  it('never uses one operationId twice', () => {
    const ids = operations.map((o) => o.op.operationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it('has no table entry that no route matches', () => {
    const documented = new Set(operations.map((o) => o.key));
    expect(Object.keys(OPERATIONS).filter((k) => !documented.has(k)), 'stale entries in OPERATIONS').toEqual([]);
  });

  it('names the operations a client reaches for', () => {
    const byKey = Object.fromEntries(operations.map((o) => [o.key, o.op.operationId]));
    expect(byKey).toMatchObject({
      'GET /v1/conversations': 'listConversations',
      'GET /v1/conversations/{id}': 'getConversation',
      'POST /v1/conversations/{id}/messages': 'replyToConversation',
      'POST /v1/messages': 'sendMessage',
      'POST /v1/conversations/{id}/read': 'markConversationRead',
    });
  });

  it('tags and summarizes every operation', () => {
    for (const { key, op } of operations) {
      expect(op.tags?.length, key).toBeGreaterThan(0);
      expect(op.summary, key).toBeTruthy();
    }
  });
});

describe('documented statuses', () => {
  it('documents every problem as application/problem+json with the shared Problem schema', () => {
    for (const { key, op } of operations) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        expect(Object.keys(response.content ?? {}), `${key} ${status}`).toEqual(['application/problem+json']);
        expect(response.content!['application/problem+json']!.schema, `${key} ${status}`).toEqual({ $ref: '#/components/schemas/Problem' });
      }
    }
  });

  it('lists 400, 401, 403, 429, 500 and 503 on every API-key operation, with Retry-After on 429 and 503', () => {
    expect(keyed().length).toBeGreaterThan(50);
    for (const { key, op } of keyed()) {
      expect(statuses(op), key).toEqual(expect.arrayContaining(['400', '401', '403', '429', '500', '503']));
      expect(Object.keys(op.responses['429']!.headers ?? {}), key).toContain('retry-after');
      expect(Object.keys(op.responses['503']!.headers ?? {}), key).toContain('retry-after');
    }
  });

  it('lists 404 where the path names an id, 413 and 415 where a body is read, 409 where Idempotency-Key is honoured', () => {
    for (const { key, method, path: p, op } of operations) {
      if (p.includes('{')) expect(statuses(op), key).toContain('404');
      if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) expect(statuses(op), key).toEqual(expect.arrayContaining(['413', '415']));
      if (op.parameters?.some((prm) => prm.in === 'header' && prm.name === 'idempotency-key')) expect(statuses(op), key).toContain('409');
      expect(statuses(op).some((s) => s.startsWith('2')), `${key} has no success answer`).toBe(true);
    }
  });

  it('lists the Idempotency-Key header on the writes that honour it', () => {
    const honoured = operations.filter((o) => o.op.parameters?.some((prm) => prm.in === 'header' && prm.name === 'idempotency-key')).map((o) => o.key);
    expect(honoured).toEqual(expect.arrayContaining(['POST /v1/messages', 'POST /v1/conversations/{id}/messages', 'POST /v1/identities']));
    expect(honoured).not.toContain('GET /v1/conversations');
  });

  it('answers a request without a key, or with an unknown query parameter or id, only with documented statuses', async () => {
    const fill = (p: string) => p.replace(/\{[^}]+\}/g, 'x_01h455vb4pex5vsknk084sn02q');
    for (const { key, method, path: p, op } of operations) {
      const documented = statuses(op);
      // No credentials at all (provider webhooks answer their own signature problems).
      const bare = await h.app.inject({ method: method as 'GET', url: fill(p) });
      expect(documented, `${key} without a key answered ${bare.statusCode}`).toContain(String(bare.statusCode));
      if (!keyed().some((o) => o.key === key)) continue;
      // An unknown query parameter (the stream refuses it before it starts).
      const unknown = await h.request(method, `${fill(p)}?zz_unknown=1`);
      expect(unknown.status, key).toBe(400);
      // Ids that name nothing (a body-taking write may first refuse the missing body).
      if (p.includes('{')) {
        const missing = await h.request(method, fill(p));
        expect(documented, `${key} with unknown ids answered ${missing.status}`).toContain(String(missing.status));
      }
    }
  });
});

describe('lint', () => {
  it('passes Redocly\'s recommended-strict ruleset with no problem', async () => {
    const config = await createConfig({
      extends: ['recommended-strict'],
      rules: {
        // A self-hosted server: its base URL is the deployment's, so the document names none.
        'no-empty-servers': 'off',
        'operation-operationId': 'error',
        'operation-operationId-unique': 'error',
        'operation-4xx-response': 'error',
        'operation-2xx-response': 'error',
        'tag-description': 'error',
      },
    });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: 'openapi.json', config });
    expect(problems.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)).toEqual([]);
  });
});

describe('the SDK\'s copy', () => {
  it('is the document the server serves (run `npm run openapi` after changing a route)', () => {
    const committed = fs.readFileSync(SDK_DOCUMENT, 'utf8');
    expect(committed === formatOpenApiDocument(doc), 'packages/sdk/openapi.json is stale: run `npm run openapi`').toBe(true);
  });
});
