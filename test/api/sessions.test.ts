/**
 * People's sign-in (issue 17; services/sessions.ts): one-time sign-in links exchanged for
 * an HttpOnly session cookie kept server-side, CSRF tokens on cookie-authenticated
 * writes (OWASP's synchronizer token pattern), the member's role and identity scope, and
 * revocation. On both stores.
 */
import net from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { parseEmail } from '../../src/email/parse.js';
import { issueLoginLink } from '../../src/services/sessions.js';
import { findFirstOwner, findMember } from '../../src/store/members.js';
import { openEventStream } from '../event-stream-client.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
afterEach(async () => h?.close());

const tokenOf = (url: string) => new URL(url).searchParams.get('token')!;

/** The organization's owner member (the harness's organization starts without one). */
async function owner() {
  const found = await findFirstOwner(h.store.db, h.orgId);
  if (found) return found;
  expect((await h.request('POST', '/v1/members', { email: 'owner@acme.test', role: 'owner' })).status).toBe(201);
  return (await findFirstOwner(h.store.db, h.orgId))!;
}

/** A sign-in link for a member (the owner by default), as `switchboard login-link` makes it. */
async function linkFor(memberId?: string, clock = new ManualClock(Date.now())): Promise<string> {
  const member = memberId ? await findMember(h.store.db, h.orgId, memberId) : await owner();
  if (!member) throw new Error('no member');
  return (await issueLoginLink(h.store, member, 'http://localhost:8080', clock, h.config.loginLinkTtlMs)).url;
}

/** The session cookie's `name=value` from a Set-Cookie header, and the header itself. */
function sessionCookie(headers: Record<string, unknown>): { pair: string; header: string } {
  const all = [headers['set-cookie']].flat().filter(Boolean) as string[];
  const header = all.find((c) => c.startsWith('sb_session='));
  if (!header) throw new Error(`no session cookie in ${JSON.stringify(all)}`);
  return { pair: header.split(';')[0]!, header };
}

/** Signs in with a link; returns the cookie and the CSRF token. */
async function signIn(url: string): Promise<{ cookie: string; csrf: string; body: any }> {
  const res = await h.app.inject({ method: 'POST', url: '/v1/auth/sessions', payload: { token: tokenOf(url) } });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json();
  return { cookie: sessionCookie(res.headers).pair, csrf: body.csrf_token, body };
}

/** A request authenticated by the cookie alone (no API key). */
async function asPerson(cookie: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await h.app.inject({
    method: method as 'GET', url, headers: { cookie, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.body ? res.json() : null, headers: res.headers };
}

describe('sign-in links', () => {
  it('exchanges a link for an HttpOnly, SameSite=Lax session cookie acting as the member, once', async () => {
    h = await harness();
    const { id, email } = await owner();
    const url = await linkFor();
    expect(url).toMatch(/^http:\/\/localhost:8080\/login\?token=sb_login_[A-Za-z0-9_-]{43}$/);
    const res = await h.app.inject({ method: 'POST', url: '/v1/auth/sessions', payload: { token: tokenOf(url) } });
    expect(res.statusCode).toBe(201);
    const { header } = sessionCookie(res.headers);
    expect(header).toMatch(/; HttpOnly/i);
    expect(header).toMatch(/; SameSite=Lax/i);
    expect(header).toMatch(/; Path=\//i);
    expect(header).not.toMatch(/; Secure/i); // plain HTTP here
    expect(res.json()).toMatchObject({ member: { id, role: 'owner', email }, organization_id: h.orgId });
    expect(res.json().csrf_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The same link again: used up.
    const again = await h.app.inject({ method: 'POST', url: '/v1/auth/sessions', payload: { token: tokenOf(url) } });
    expect(again.statusCode).toBe(401);
    expect(again.json().code).toBe('unauthenticated');
  });

  it('sets the cookie Secure when the request came over TLS (behind a trusted proxy)', async () => {
    h = await harness({ trustProxy: 'loopback' });
    const res = await h.app.inject({
      method: 'POST', url: '/v1/auth/sessions', payload: { token: tokenOf(await linkFor()) },
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '127.0.0.1' }, remoteAddress: '127.0.0.1',
    });
    expect(res.statusCode).toBe(201);
    expect(sessionCookie(res.headers).header).toMatch(/; Secure/i);
  });

  it('refuses an expired link, an unknown token and a malformed one with 401', async () => {
    const clock = new ManualClock(Date.now());
    h = await harness({}, { clock });
    const url = await linkFor(undefined, clock);
    clock.advance(h.config.loginLinkTtlMs + 1);
    for (const token of [tokenOf(url), `sb_login_${'A'.repeat(43)}`, 'not-a-token']) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/auth/sessions', payload: { token } });
      expect(res.statusCode, token).toBe(401);
      expect(res.json().code).toBe('unauthenticated');
    }
  });

  it('gives two racing exchanges of one link one session', async () => {
    h = await harness();
    const token = tokenOf(await linkFor());
    const results = await Promise.all(Array.from({ length: 5 }, () => h.app.inject({ method: 'POST', url: '/v1/auth/sessions', payload: { token } })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 401, 401, 401, 401]);
  });
});

describe('a session', () => {
  it('reads with the cookie alone, and writes only with its CSRF token', async () => {
    h = await harness();
    const { identityId } = await identityWithMailbox(h, 'support@acme.test');
    await inbound(h, rawEmail({ from: 'ann@buyer.test', to: 'support@acme.test', messageId: 'a1@buyer.test' }));
    const { cookie, csrf } = await signIn(await linkFor());
    const list = await asPerson(cookie, 'GET', `/v1/conversations?identity_id=${identityId}`);
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    const id = list.body.data[0].id;
    const missing = await asPerson(cookie, 'PUT', `/v1/conversations/${id}/star`);
    expect(missing.status).toBe(403);
    expect(missing.body).toMatchObject({ code: 'csrf_failed', param: 'x-csrf-token' });
    const wrong = await asPerson(cookie, 'PUT', `/v1/conversations/${id}/star`, undefined, { 'x-csrf-token': `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}` });
    expect(wrong.status).toBe(403);
    const star = await asPerson(cookie, 'PUT', `/v1/conversations/${id}/star`, undefined, { 'x-csrf-token': csrf });
    expect(star.status).toBe(200);
    expect(star.body.starred).toBe(true);
    // The event records the member who starred it, through the session.
    const events = await h.request('GET', `/v1/conversations/${id}/events?types=starred`);
    expect(events.body.data[0].data.by.member_id).toBe((await owner()).id);
  });

  it('answers GET /v1/auth/session with the CSRF token, to a cookie only', async () => {
    h = await harness();
    const { cookie, csrf, body } = await signIn(await linkFor());
    const got = await asPerson(cookie, 'GET', '/v1/auth/session');
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ ...body, expires_at: expect.any(String) });
    expect(got.body.csrf_token).toBe(csrf);
    const withKey = await h.request('GET', '/v1/auth/session');
    expect(withKey.status).toBe(401);
    const none = await h.app.inject({ method: 'GET', url: '/v1/auth/session' });
    expect(none.statusCode).toBe(401);
  });

  it('ends on sign-out (with the CSRF token), and the cookie no longer works', async () => {
    h = await harness();
    const { cookie, csrf } = await signIn(await linkFor());
    expect((await asPerson(cookie, 'DELETE', '/v1/auth/session')).status).toBe(403);
    const out = await asPerson(cookie, 'DELETE', '/v1/auth/session', undefined, { 'x-csrf-token': csrf });
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/sb_session=;/);
    const after = await asPerson(cookie, 'GET', '/v1/conversations');
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('unauthenticated');
    // The dead cookie is cleared, so the browser stops sending it.
    expect(String(after.headers['set-cookie'])).toMatch(/sb_session=;/);
  });

  it('expires SESSION_TTL_MS after its last use, and each use (at most once a minute) extends it', async () => {
    const clock = new ManualClock(Date.now());
    h = await harness({ sessionTtlMs: 10 * 60_000 }, { clock });
    const { cookie } = await signIn(await linkFor(undefined, clock));
    clock.advance(8 * 60_000);
    expect((await asPerson(cookie, 'GET', '/v1/conversations')).status).toBe(200); // extends to 18 min
    clock.advance(8 * 60_000);
    expect((await asPerson(cookie, 'GET', '/v1/conversations')).status).toBe(200); // 16 min: alive thanks to the use
    clock.advance(10 * 60_000 + 1);
    expect((await asPerson(cookie, 'GET', '/v1/conversations')).status).toBe(401);
  });

  it('ends when an administrator ends the member\'s sessions, or removes the member', async () => {
    h = await harness();
    const agent = await h.request('POST', '/v1/members', { email: 'agent@acme.test', role: 'agent' });
    const first = await signIn(await linkFor(agent.body.id));
    const second = await signIn(await linkFor(agent.body.id));
    const ended = await h.request('DELETE', `/v1/members/${agent.body.id}/sessions`);
    expect(ended).toMatchObject({ status: 200, body: { revoked: 2 } });
    expect((await asPerson(first.cookie, 'GET', '/v1/conversations')).status).toBe(401);
    expect((await asPerson(second.cookie, 'GET', '/v1/conversations')).status).toBe(401);
    const third = await signIn(await linkFor(agent.body.id));
    expect((await asPerson(third.cookie, 'GET', '/v1/conversations')).status).toBe(200);
    expect((await h.request('DELETE', `/v1/members/${agent.body.id}`)).status).toBe(204);
    expect((await asPerson(third.cookie, 'GET', '/v1/conversations')).status).toBe(401);
    // Another organization's member is a 404.
    const other = await h.otherOrg();
    const foreign = await h.request('DELETE', `/v1/members/${agent.body.id}/sessions`, undefined, { authorization: `Bearer ${other}` });
    expect(foreign.status).toBe(404);
  });

  it('acts with the member\'s role: an agent\'s session holds no administrative permission', async () => {
    h = await harness();
    const agent = await h.request('POST', '/v1/members', { email: 'agent@acme.test', role: 'agent' });
    const { cookie, csrf } = await signIn(await linkFor(agent.body.id));
    const hook = await asPerson(cookie, 'POST', '/v1/webhook_endpoints', { url: 'https://example.com/hook' }, { 'x-csrf-token': csrf });
    expect(hook.status).toBe(403);
    expect(hook.body.code).toBe('missing_permission');
    expect((await asPerson(cookie, 'GET', '/v1/members')).status).toBe(200);
  });

  it('of a member limited to one identity never shows another identity\'s conversations (nor do keys acting as them)', async () => {
    h = await harness();
    const sales = await identityWithMailbox(h, 'sales@acme.test');
    const support = await identityWithMailbox(h, 'support@acme.test');
    await inbound(h, rawEmail({ from: 'ann@buyer.test', to: 'sales@acme.test', messageId: 's1@buyer.test' }));
    await inbound(h, rawEmail({ from: 'bob@buyer.test', to: 'support@acme.test', messageId: 'p1@buyer.test' }));
    const hidden = (await h.request('GET', `/v1/conversations?identity_id=${support.identityId}`)).body.data[0].id;
    const member = await h.request('POST', '/v1/members', { email: 'seller@acme.test', role: 'agent', identity_id: sales.identityId });
    expect(member.status).toBe(201);
    expect(member.body.identity_id).toBe(sales.identityId);
    const { cookie } = await signIn(await linkFor(member.body.id));
    const list = await asPerson(cookie, 'GET', '/v1/conversations');
    expect(list.body.data.map((c: any) => c.counterpart)).toEqual(['ann@buyer.test']);
    expect((await asPerson(cookie, 'GET', `/v1/conversations/${hidden}`)).status).toBe(404);
    expect((await asPerson(cookie, 'GET', `/v1/conversations?identity_id=${support.identityId}`)).status).toBe(403);
    const counts = await asPerson(cookie, 'GET', '/v1/views/counts');
    expect(counts.body.data.find((v: any) => v.view_id === 'view_all').total).toBe(1);
    // A key acting as the member sees what the member sees.
    const key = await h.request('POST', '/v1/api_keys', { name: 'seller', member_id: member.body.id });
    const byKey = await h.request('GET', '/v1/conversations', undefined, { authorization: `Bearer ${key.body.key}` });
    expect(byKey.body.data.map((c: any) => c.counterpart)).toEqual(['ann@buyer.test']);
    const wider = await h.request('POST', '/v1/api_keys', { name: 'x', member_id: member.body.id, identity_id: support.identityId });
    expect(wider.status).toBe(403);
    expect(wider.body.code).toBe('forbidden_identity');
    // Widened again by an administrator: the next request sees both.
    expect((await h.request('PATCH', `/v1/members/${member.body.id}`, { identity_id: null })).status).toBe(200);
    expect((await asPerson(cookie, 'GET', '/v1/conversations')).body.data).toHaveLength(2);
    expect((await h.request('PATCH', `/v1/members/${member.body.id}`, { identity_id: 'idn_01h455vb4pex5vsknk084sn02q' })).status).toBe(404);
  });

  it('is not accepted outside /v1 (the MCP endpoint takes API keys only)', async () => {
    h = await harness();
    const { cookie } = await signIn(await linkFor());
    const res = await h.app.inject({
      method: 'POST', url: '/mcp', headers: { cookie, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      payload: { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    });
    expect(res.statusCode).toBe(401);
  });
});

describe('e-mailed sign-in links', () => {
  /** A relay that keeps what it is given. */
  async function relay() {
    const got: { to: string[]; raw: string }[] = [];
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          got.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString() });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return { got, port: (server.server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  const waitFor = async (cond: () => boolean) => {
    for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  };

  it('sends a member a working link through the organization\'s mailbox, and tells an unknown address the same 202', async () => {
    const sink = await relay();
    try {
      h = await harness({ publicUrl: 'https://inbox.acme.test' });
      const { mailboxId } = await identityWithMailbox(h, 'support@acme.test');
      expect((await h.request('PATCH', `/v1/mailboxes/${mailboxId}`, { smtp: { host: '127.0.0.1', port: sink.port, secure: false } })).status).toBe(200);
      await h.request('POST', '/v1/members', { email: 'Agent@Acme.test', role: 'agent' });
      const unknown = await h.app.inject({ method: 'POST', url: '/v1/auth/login_links', payload: { email: 'nobody@acme.test' } });
      const known = await h.app.inject({ method: 'POST', url: '/v1/auth/login_links', payload: { email: 'agent@acme.test' } });
      expect([unknown.statusCode, known.statusCode]).toEqual([202, 202]);
      expect(unknown.body).toBe(known.body);
      await waitFor(() => sink.got.length > 0);
      expect(sink.got).toHaveLength(1);
      expect(sink.got[0]!.to).toEqual(['agent@acme.test']);
      const text = (await parseEmail(Buffer.from(sink.got[0]!.raw))).text ?? '';
      const url = /https:\/\/inbox\.acme\.test\/login\?token=\S+/.exec(text)?.[0];
      expect(url).toBeDefined();
      const { body } = await signIn(url!);
      expect(body.member.email).toBe('agent@acme.test');
    } finally {
      await sink.close();
    }
  });

  it('without PUBLIC_URL, builds links only for a request to this machine (a foreign Host is 409)', async () => {
    h = await harness();
    const foreign = await h.app.inject({ method: 'POST', url: '/v1/auth/login_links', payload: { email: 'a@acme.test' }, headers: { host: 'evil.test' } });
    expect(foreign.statusCode).toBe(409);
    expect(foreign.json().code).toBe('public_url_required');
    const local = await h.app.inject({ method: 'POST', url: '/v1/auth/login_links', payload: { email: 'a@acme.test' }, headers: { host: '127.0.0.1:8080' } });
    expect(local.statusCode).toBe(202);
    const bad = await h.app.inject({ method: 'POST', url: '/v1/auth/login_links', payload: { email: 'not an address' }, headers: { host: 'localhost' } });
    expect(bad.statusCode).toBe(400);
  });
});

describe('credentials that change under a live stream or a pending link', () => {
  /** The harness listening on a port (streams need a real socket), with a quick heartbeat. */
  async function listening(): Promise<string> {
    h = await harness({ streamHeartbeatMs: 150 });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  it('ends a session\'s live stream when it signs out, and sends it nothing after', async () => {
    const base = await listening();
    await identityWithMailbox(h, 'help@acme.test');
    const conv = (await inbound(h, rawEmail({ from: 'ann@buyer.test', to: 'help@acme.test', messageId: 'a1@buyer.test' }))).body.results[0].conversation_id;
    const { cookie, csrf } = await signIn(await linkFor());
    const stream = await openEventStream(`${base}/v1/events/stream?after=latest`, { cookie });
    expect(stream.res.status).toBe(200);
    await h.request('POST', `/v1/conversations/${conv}/labels`, { labels: ['before'] });
    expect((await stream.waitFor(1))[0]!.event).toBe('label_added');
    expect((await asPerson(cookie, 'DELETE', '/v1/auth/session', undefined, { 'x-csrf-token': csrf })).status).toBe(204);
    await h.request('POST', `/v1/conversations/${conv}/labels`, { labels: ['after'] });
    expect(await stream.ended()).toBe(true);
    expect(stream.messages.map((m) => m.event)).toEqual(['label_added', 'ended']);
    expect(JSON.parse(stream.messages[1]!.data)).toMatchObject({ reason: 'credentials_changed' });
    // Reconnecting with the dead cookie is refused.
    expect((await fetch(`${base}/v1/events/stream`, { headers: { cookie } })).status).toBe(401);
    await stream.close();
  });

  it('ends the live streams of a member narrowed to another identity, and revokes their keys scoped elsewhere', async () => {
    const base = await listening();
    const sales = await identityWithMailbox(h, 'sales@acme.test');
    const support = await identityWithMailbox(h, 'support@acme.test');
    const member = (await h.request('POST', '/v1/members', { email: 'seller@acme.test', role: 'agent' })).body;
    const { cookie } = await signIn(await linkFor(member.id));
    const supportKey = (await h.request('POST', '/v1/api_keys', { name: 'support', member_id: member.id, identity_id: support.identityId })).body.key;
    const salesKey = (await h.request('POST', '/v1/api_keys', { name: 'sales', member_id: member.id, identity_id: sales.identityId })).body.key;
    const byCookie = await openEventStream(`${base}/v1/events/stream?after=latest`, { cookie });
    const byKey = await openEventStream(`${base}/v1/events/stream?after=latest`, { authorization: `Bearer ${supportKey}` });
    expect([byCookie.res.status, byKey.res.status]).toEqual([200, 200]);
    expect((await h.request('PATCH', `/v1/members/${member.id}`, { identity_id: sales.identityId })).status).toBe(200);
    // Mail to the identity the member no longer sees reaches neither stream.
    await inbound(h, rawEmail({ from: 'bob@buyer.test', to: 'support@acme.test', messageId: 'p1@buyer.test' }));
    for (const stream of [byCookie, byKey]) {
      expect(await stream.ended()).toBe(true);
      expect(stream.messages.map((m) => m.event)).toEqual(['ended']);
      await stream.close();
    }
    const asKey = (key: string) => h.request('GET', '/v1/conversations', undefined, { authorization: `Bearer ${key}` });
    expect((await asKey(supportKey)).status).toBe(401);
    expect((await asKey(salesKey)).status).toBe(200);
    const keys = (await h.request('GET', '/v1/api_keys')).body.data;
    expect(keys.find((k: any) => k.name === 'support').revoked_at).not.toBeNull();
    expect(keys.find((k: any) => k.name === 'sales').revoked_at).toBeNull();
  });

  it('refuses a key whose identity differs from its member\'s limit, however the two came apart', async () => {
    h = await harness();
    const sales = await identityWithMailbox(h, 'sales@acme.test');
    const support = await identityWithMailbox(h, 'support@acme.test');
    const member = (await h.request('POST', '/v1/members', { email: 'seller@acme.test', role: 'agent' })).body;
    const key = (await h.request('POST', '/v1/api_keys', { name: 'support', member_id: member.id, identity_id: support.identityId })).body.key;
    // Written behind the service's back (a restored backup, a hand-made change).
    await h.store.db.updateTable('members').set({ identity_id: sales.identityId }).where('id', '=', member.id).execute();
    const res = await h.request('GET', '/v1/conversations', undefined, { authorization: `Bearer ${key}` });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('unauthenticated');
  });

  it('ends the session a browser had when it signs in again by another link', async () => {
    h = await harness();
    const first = await signIn(await linkFor());
    const res = await h.app.inject({ method: 'POST', url: '/v1/auth/sessions', headers: { cookie: first.cookie }, payload: { token: tokenOf(await linkFor()) } });
    expect(res.statusCode).toBe(201);
    const second = sessionCookie(res.headers).pair;
    expect(second).not.toBe(first.cookie);
    expect((await asPerson(first.cookie, 'GET', '/v1/conversations')).status).toBe(401);
    expect((await asPerson(second, 'GET', '/v1/conversations')).status).toBe(200);
  });

  it('voids a member\'s unused sign-in links when their sessions are ended or their address changes', async () => {
    h = await harness();
    const member = (await h.request('POST', '/v1/members', { email: 'agent@acme.test', role: 'agent' })).body;
    const exchange = async (url: string) => (await h.app.inject({ method: 'POST', url: '/v1/auth/sessions', payload: { token: tokenOf(url) } })).statusCode;
    const pending = await linkFor(member.id);
    expect((await h.request('DELETE', `/v1/members/${member.id}/sessions`)).status).toBe(200);
    expect(await exchange(pending)).toBe(401);
    const mailed = await linkFor(member.id);
    const untouched = await linkFor((await owner()).id);
    expect((await h.request('PATCH', `/v1/members/${member.id}`, { name: 'Agent' })).status).toBe(200);
    const beforeMove = await linkFor(member.id);
    expect((await h.request('PATCH', `/v1/members/${member.id}`, { email: 'agent@elsewhere.test' })).status).toBe(200);
    expect(await exchange(mailed)).toBe(401);
    expect(await exchange(beforeMove)).toBe(401);
    expect(await exchange(untouched)).toBe(201);
    expect(await exchange(await linkFor(member.id))).toBe(201);
  });
});
