/**
 * Authentication and the error contract (SPEC section 5): every failure is
 * problem+json with a stable code and a fix, and a foreign key sees nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
beforeAll(async () => { h = await harness(); });
afterAll(async () => { await h.close(); });

function expectProblem(res: { status: number; body: any; headers: Record<string, unknown> }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code, type: `urn:switchboard:error:${code}` });
  expect(typeof res.body.title).toBe('string');
  expect(res.body.fix.length).toBeGreaterThan(10);
  expect(JSON.stringify(res.body)).not.toMatch(/at \S+ \(|node_modules|\.ts:\d+/); // no stack trace
}

describe('authentication', () => {
  it('rejects a request without a key', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/conversations' });
    expectProblem({ status: res.statusCode, body: res.json(), headers: res.headers }, 401, 'unauthenticated');
  });

  it.each([
    ['a malformed key', 'Bearer nope'],
    ['a well-formed key that was never issued', 'Bearer sb_key_01h455vb4pex5vsknk084sn02q_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
  ])('rejects %s', async (_what, authorization) => {
    const res = await h.request('GET', '/v1/conversations', undefined, { authorization });
    expectProblem(res, 401, 'unauthenticated');
  });

  it('rejects a real key with one character of its secret changed', async () => {
    const last = h.key.at(-1) === 'A' ? 'B' : 'A';
    const res = await h.request('GET', '/v1/conversations', undefined, { authorization: `Bearer ${h.key.slice(0, -1)}${last}` });
    expectProblem(res, 401, 'unauthenticated');
  });

  it('authenticates before reading the body', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/identities', headers: { 'content-type': 'application/json' }, payload: '{not json' });
    expect(res.statusCode).toBe(401);
  });

  it('leaves health and the OpenAPI document public', async () => {
    expect((await h.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await h.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const doc = (await h.app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toContain('/v1/conversations/{id}/messages');
  });
});

describe('error contract', () => {
  it('answers an unknown route with a not_found problem', async () => {
    expectProblem(await h.request('GET', '/v1/nothing-here'), 404, 'not_found');
  });

  it('answers bad JSON with validation_failed', async () => {
    expectProblem(await h.request('POST', '/v1/identities', '{"handle": '), 400, 'validation_failed');
  });

  it('names the parameter at fault', async () => {
    const res = await h.request('POST', '/v1/identities', { handle: 'ok', colour: 'blue' });
    expectProblem(res, 400, 'validation_failed');
    expect(res.body.param).toBe('colour');
    const missing = await h.request('POST', '/v1/mailboxes', { address: 'x@example.com' });
    expectProblem(missing, 400, 'validation_failed');
    expect(missing.body.param).toBe('identity_id');
  });

  it('rejects a limit out of range and a garbage cursor', async () => {
    const big = await h.request('GET', '/v1/conversations?limit=201');
    expectProblem(big, 400, 'validation_failed');
    expect(big.body.param).toMatch(/limit/);
    expectProblem(await h.request('GET', '/v1/conversations?cursor=%%%'), 400, 'validation_failed');
    expectProblem(await h.request('GET', '/v1/conversations?cursor=eyJ4IjoxfQ'), 400, 'validation_failed');
  });

  it('answers a JSON endpoint sent another media type with 415', async () => {
    expectProblem(await h.request('POST', '/v1/identities', 'handle=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
  });

  it('treats malformed, missing and foreign ids alike', async () => {
    const { identityId } = await identityWithMailbox(h, 'support@acme.test', 'support');
    await inbound(h, rawEmail({ from: 'carol@example.org', to: 'support@acme.test', messageId: 'iso-1@example.org' }));
    const conv = (await h.request('GET', '/v1/conversations')).body.data[0];
    const other = await h.otherOrg();
    const foreign = { authorization: `Bearer ${other}` };
    const paths = [
      `/v1/conversations/${conv.id}`, `/v1/conversations/${conv.id}/events`, `/v1/conversations/${conv.id}/messages`,
      `/v1/identities/${identityId}`,
    ];
    for (const path of paths) {
      expect((await h.request('GET', path)).status).toBe(200);
      const bodies = [await h.request('GET', path, undefined, foreign)];
      bodies.push(await h.request('GET', path.replace(/_[0-9a-z]{26}/, '_01h455vb4pex5vsknk084sn02q')));
      bodies.push(await h.request('GET', path.replace(/[a-z]+_[0-9a-z]{26}/, 'garbage')));
      for (const res of bodies) expectProblem(res, 404, 'not_found');
      // The foreign answer says no more than the missing one.
      expect(bodies[0]!.body.detail).toBe(bodies[1]!.body.detail);
    }
    expectProblem(await h.request('PATCH', `/v1/conversations/${conv.id}`, { archived: true }, foreign), 404, 'not_found');
    expectProblem(await h.request('POST', `/v1/conversations/${conv.id}/messages`, { text: 'hi' }, foreign), 404, 'not_found');
    expect((await h.request('GET', '/v1/conversations', undefined, foreign)).body.data).toEqual([]);
    expect((await h.request('GET', '/v1/identities', undefined, foreign)).body.data).toEqual([]);
    // Mail for this org's mailbox posted with the other org's key is an unknown recipient there.
    const cross = await inbound(h, rawEmail({ from: 'x@example.org', to: 'support@acme.test' }), '', foreign);
    expectProblem(cross, 422, 'unknown_recipient');
  });

  it('documents every error code in the OpenAPI Problem schema', async () => {
    const doc = (await h.app.inject({ url: '/openapi.json' })).json();
    const problem = doc.components.schemas.Problem;
    expect(new Set(problem.properties.code.enum)).toEqual(new Set(Object.keys(ERROR_CODES)));
  });

  it('refuses inputs the database cannot hold with validation_failed, on both stores', async () => {
    await identityWithMailbox(h, 'edge@acme.test', 'edge');
    const res = await inbound(h, rawEmail({ from: 'e@example.org', to: 'edge@acme.test', messageId: 'edge-1@example.org' }));
    const conv = res.body.results[0].conversation_id;
    const cursor = (o: unknown) => encodeURIComponent(Buffer.from(JSON.stringify(o)).toString('base64url'));
    const bad = [
      ['GET', `/v1/conversations/${conv}/events?cursor=${cursor({ at: '2020-01-01T00:00:00.000Z', seq: 1.5 })}`, undefined, 'cursor'],
      ['GET', `/v1/conversations/${conv}/events?cursor=${cursor({ at: '2020-01-01T00:00:00.000Z', seq: 1e21 })}`, undefined, 'cursor'],
      ['GET', `/v1/conversations/${conv}/events?cursor=${cursor({ at: '2020-01-01T00:00:00.000Z', seq: -1 })}`, undefined, 'cursor'],
      ['GET', `/v1/conversations?cursor=${cursor({ t: 'a\u0000', id: 'x' })}`, undefined, 'cursor'],
      ['GET', '/v1/conversations?with=a%00b@example.org', undefined, 'with'],
      ['GET', '/v1/conversations?since=2016-12-31T23:59:60Z', undefined, 'since'],
      ['POST', '/v1/identities', { handle: 'nul\u0000handle' }, 'handle'],
      ['POST', `/v1/conversations/${conv}/labels`, { labels: ['ok', 'n\u0000l'] }, 'labels.1'],
    ] as const;
    for (const [method, url, body, param] of bad) {
      const r = await h.request(method, url, body);
      expectProblem(r, 400, 'validation_failed');
      expect(r.body.param, url).toBe(param);
    }
  });
});
