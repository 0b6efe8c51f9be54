/**
 * Key rows remembered between requests (services/authentication.ts) never outlive a
 * change: a key revoked, or its member demoted, through another node (another process
 * on SQLite) stops counting on this node's very next request. Many re-authentications of
 * one key after a commit (every open event stream does one) share one read of its row.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp, type Api } from '../../src/api/app.js';
import { Authenticator } from '../../src/services/authentication.js';
import { OrgVersions } from '../../src/store/org-versions.js';
import { openStore } from '../../src/store/open.js';
import { inOrgTransaction, orgVersion } from '../../src/store/sequences.js';
import type { Store } from '../../src/store/store.js';
import { harness, type Harness } from '../helpers.js';

let h: Harness;
let otherStore: Store;
let otherNode: Api;

beforeAll(async () => {
  h = await harness();
  otherStore = await openStore(h.config);
  otherNode = await buildApp({ store: otherStore, config: h.config, logger: false, isReady: () => true });
});
afterAll(async () => {
  await otherNode?.close();
  await otherStore?.close();
  await h?.close();
});

const call = async (app: Api, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, key: string, body?: unknown) => {
  const res = await app.inject({
    method, url, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json() };
};

/** A commit of the organization (its state version moves on). */
const bump = () => inOrgTransaction(h.store, h.orgId, async () => {});

describe('remembered keys', () => {
  it('a key revoked through another node is refused on the next request here', async () => {
    const made = await call(h.app, 'POST', '/v1/api_keys', h.key, { name: 'short-lived' });
    expect(made.status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await call(h.app, 'GET', '/v1/conversations', made.body.key)).status).toBe(200);
    expect((await call(otherNode, 'DELETE', `/v1/api_keys/${made.body.id}`, h.key)).status).toBeLessThan(300);
    const after = await call(h.app, 'GET', '/v1/conversations', made.body.key);
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('unauthenticated');
  });

  it('a member demoted through another node loses the administrative permissions here at once', async () => {
    const member = await call(h.app, 'POST', '/v1/members', h.key, { email: 'lead@acme.test', role: 'admin' });
    expect(member.status).toBe(201);
    const made = await call(h.app, 'POST', '/v1/api_keys', h.key, { name: 'lead', member_id: member.body.id });
    expect(made.status).toBe(201);
    expect((await call(h.app, 'GET', '/v1/api_keys', made.body.key)).status).toBe(200);
    expect((await call(otherNode, 'PATCH', `/v1/members/${member.body.id}`, h.key, { role: 'agent' })).status).toBe(200);
    const after = await call(h.app, 'GET', '/v1/api_keys', made.body.key);
    expect(after.status).toBe(403);
    expect(after.body.code).toBe('missing_permission');
    expect((await call(h.app, 'GET', '/v1/conversations', made.body.key)).status).toBe(200);
  });

  it('a wrong secret for a remembered key id is refused', async () => {
    const made = await call(h.app, 'POST', '/v1/api_keys', h.key, { name: 'guessed' });
    expect((await call(h.app, 'GET', '/v1/conversations', made.body.key)).status).toBe(200);
    const forged = made.body.key.slice(0, -4) + (made.body.key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await call(h.app, 'GET', '/v1/conversations', forged)).status).toBe(401);
  });
});

describe('re-authentication after a commit', () => {
  /**
   * An authenticator on the harness's store that counts the key-row reads it makes; while
   * `hold` is set, a read's answer waits for it (the read itself has run) and `ran` is told;
   * `versionRead` is told after each read of the organization's version.
   */
  function counting() {
    let reads = 0;
    const control: { hold: Promise<void> | null; ran: () => void; versionRead: () => void } = { hold: null, ran: () => {}, versionRead: () => {} };
    const db = new Proxy(h.store.db, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        if (prop !== 'selectFrom') return value.bind(target);
        return (table: string) => {
          const builder = value.call(target, table);
          if (table !== 'api_keys') return builder;
          reads++;
          return new Proxy(builder, {
            get(b, p) {
              const v = Reflect.get(b, p, b);
              if (typeof v !== 'function') return v;
              if (p === 'executeTakeFirst') {
                return async () => {
                  const row = await v.call(b);
                  control.ran();
                  if (control.hold) await control.hold;
                  return row;
                };
              }
              return (...args: unknown[]) => {
                const out = v.apply(b, args);
                return out === b ? out : typeof out === 'object' && out && 'executeTakeFirst' in out ? new Proxy(out, this) : out;
              };
            },
          });
        };
      },
    });
    const store = { ...h.store, db } as unknown as Store;
    const versions = new OrgVersions(async (orgId) => {
      const version = await orgVersion(db, orgId);
      control.versionRead();
      return version;
    });
    return { auth: new Authenticator(store, versions), reads: () => reads, control };
  }

  it('a burst of re-authentications of one key after a commit reads its row once', async () => {
    const { auth, reads } = counting();
    await auth.authenticate(h.key);
    expect(reads()).toBe(1);
    await bump();
    const principals = await Promise.all(Array.from({ length: 200 }, () => auth.authenticate(h.key)));
    expect(new Set(principals.map((p) => p.orgVersion)).size).toBe(1);
    expect(reads()).toBe(2);
  });

  it('a read of the row that ran before a revocation is not shared with a call that asks after it', async () => {
    const { auth, control } = counting();
    const made = await call(h.app, 'POST', '/v1/api_keys', h.key, { name: 'revoked mid-read' });
    await auth.authenticate(made.body.key);
    await bump();
    let open!: () => void;
    control.hold = new Promise((resolve) => { open = resolve; });
    const ran = new Promise<void>((resolve) => { control.ran = resolve; });
    const first = auth.authenticate(made.body.key);
    await ran; // its row is read (not revoked yet); its answer is held
    control.hold = null;
    expect((await call(otherNode, 'DELETE', `/v1/api_keys/${made.body.id}`, h.key)).status).toBeLessThan(300);
    const asked = new Promise<void>((resolve) => { control.versionRead = resolve; });
    const second = auth.authenticate(made.body.key);
    await asked;
    await new Promise((resolve) => setImmediate(resolve)); // it now waits for the held read, or reads again
    open();
    await expect(first).resolves.toMatchObject({ keyId: made.body.id });
    await expect(second).rejects.toMatchObject({ code: 'unauthenticated' });
  });
});

describe('a re-check of a key (Authenticator.recheck: the live stream checks its key before each batch)', () => {
  const authenticator = () => new Authenticator(h.store, new OrgVersions(h.store.db));

  it('sees a revocation and a demotion made through another node, as authenticate does', async () => {
    const member = await call(h.app, 'POST', '/v1/members', h.key, { email: 'recheck@acme.test', role: 'admin' });
    const made = await call(h.app, 'POST', '/v1/api_keys', h.key, { name: 'rechecked', member_id: member.body.id });
    const check = authenticator().recheck(made.body.key);
    expect((await check()).permissions.has('members:manage')).toBe(true);
    expect((await call(otherNode, 'PATCH', `/v1/members/${member.body.id}`, h.key, { role: 'agent' })).status).toBe(200);
    const demoted = await check();
    expect(demoted.keyId).toBe(made.body.id);
    expect(demoted.permissions.has('members:manage')).toBe(false);
    expect((await call(otherNode, 'DELETE', `/v1/api_keys/${made.body.id}`, h.key)).status).toBeLessThan(300);
    await expect(check()).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('refuses a wrong secret for a key id whose row is remembered, on every call', async () => {
    const made = await call(h.app, 'POST', '/v1/api_keys', h.key, { name: 'guessed again' });
    const auth = authenticator();
    await auth.authenticate(made.body.key); // the row is now remembered
    const forged = made.body.key.slice(0, -4) + (made.body.key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const check = auth.recheck(forged);
    for (let i = 0; i < 3; i++) await expect(check()).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(auth.recheck('sb_key_not-a-key')()).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(auth.recheck(undefined)()).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('hashes the secret once however often it runs', async () => {
    const hashes = vi.spyOn(crypto, 'createHash');
    try {
      const check = authenticator().recheck(h.key);
      for (let i = 0; i < 5; i++) {
        await check();
        await bump();
      }
      expect(hashes.mock.calls.filter(([algorithm]) => algorithm === 'sha256')).toHaveLength(1);
    } finally {
      hashes.mockRestore();
    }
  });
});
