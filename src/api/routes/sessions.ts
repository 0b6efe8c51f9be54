/**
 * People's sign-in (services/sessions.ts): `/v1/auth/…` exchanges a one-time login link
 * for a session cookie, reads and ends the session, and e-mails links; an administrator
 * ends a member's sessions (`DELETE /v1/members/{id}/sessions`).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { isoNow } from '../../clock.js';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { getMember } from '../../services/members.js';
import { authenticateSession, emailLoginLinks, SESSION_COOKIE, startSession } from '../../services/sessions.js';
import { deleteMemberLoginLinks, revokeMemberSessions, revokeSession } from '../../store/sessions.js';
import { inOrgTransaction } from '../../store/sequences.js';
import type { MemberRow } from '../../store/members.js';
import { principalOf } from '../auth.js';
import { EmailString, IdParams, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';
import { Member, memberView } from './members.js';

const Session = Type.Object({
  member: Member,
  organization_id: Type.String(),
  csrf_token: Type.String({ description: 'send it as `X-CSRF-Token` with every request that changes something' }),
  expires_at: Type.String({ format: 'date-time', description: 'extended by each use' }),
}, { $id: 'Session' });

const SessionCreate = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 200, description: 'the `token` of a sign-in link (`/login?token=…`)' }),
}, { additionalProperties: false });

const LoginLinkRequest = Type.Object({ email: EmailString }, { additionalProperties: false });

/** Hostnames a login link may be built from when no PUBLIC_URL is set: this machine only. */
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/i;

/**
 * Where an e-mailed sign-in link points: PUBLIC_URL, or, without it, the request's own
 * origin only when that is this machine (a Host header from anywhere else could send
 * people a link to an attacker's site carrying their token).
 *
 * @throws AppError `public_url_required`.
 */
function linkBase(request: FastifyRequest, config: Config): string {
  if (config.publicUrl) return config.publicUrl;
  const host = request.headers.host ?? '';
  if (LOOPBACK.test(host)) return `${request.protocol}://${host}`;
  throw new AppError('public_url_required', 'Sign-in links can be e-mailed only once PUBLIC_URL says where people reach this server.');
}

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeMs: number): void {
  reply.setCookie(SESSION_COOKIE, value, {
    path: '/', httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https', maxAge: Math.floor(maxAgeMs / 1000),
  });
}

export function sessionRoutes(app: Api, { store, config, clock, rateLimits }: ApiContext): void {
  const sessionView = (member: MemberRow, session: { org_id: string; csrf_token: string; expires_at: string }) => ({
    member: memberView(member), organization_id: session.org_id, csrf_token: session.csrf_token, expires_at: session.expires_at,
  });

  app.post('/v1/auth/sessions', {
    config: { publicRoute: true },
    schema: {
      tags: ['sessions'], summary: 'Sign in with a one-time sign-in link (sets the session cookie)', security: [], body: SessionCreate,
      response: { 201: Session, 400: Problem, 401: Problem, 429: Problem },
    },
  }, async (request, reply) => {
    const started = await startSession(store, request.body.token, request.headers['user-agent'], clock, config.sessionTtlMs).catch(async (err: unknown) => {
      await rateLimits.authFailed(request.ip);
      throw err;
    });
    const member = await getMember(store.db, started.session.org_id, started.session.member_id);
    // The session this browser had until now is replaced: end it rather than leave it live unseen.
    const replaced = request.cookies[SESSION_COOKIE];
    if (replaced !== undefined) {
      const previous = await authenticateSession(store, replaced, clock, config.sessionTtlMs).catch(() => null);
      if (previous) await revokeSession(store.db, previous.session.org_id, previous.session.id, isoNow(clock));
    }
    setSessionCookie(request, reply, started.cookie, config.sessionTtlMs);
    reply.header('cache-control', 'no-store');
    return reply.status(201).send(sessionView(member, started.session));
  });

  app.get('/v1/auth/session', {
    config: { sessionOnly: true },
    schema: { tags: ['sessions'], summary: 'The signed-in person\'s session (cookie only)', security: [], response: { 200: Session, 401: Problem } },
  }, async (request, reply) => {
    const session = request.session!;
    const member = await getMember(store.db, session.org_id, session.member_id);
    // The cookie lives as long as the session, which each use extends.
    setSessionCookie(request, reply, request.cookies[SESSION_COOKIE]!, config.sessionTtlMs);
    reply.header('cache-control', 'no-store');
    return sessionView(member, session);
  });

  app.delete('/v1/auth/session', {
    config: { sessionOnly: true },
    schema: { tags: ['sessions'], summary: 'Sign out (ends the session; cookie and CSRF token)', security: [], response: { 204: Type.Null(), 401: Problem, 403: Problem } },
  }, async (request, reply) => {
    const session = request.session!;
    await revokeSession(store.db, session.org_id, session.id, isoNow(clock));
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.status(204).send(null);
  });

  app.post('/v1/auth/login_links', {
    config: { publicRoute: true },
    schema: {
      tags: ['sessions'], security: [], body: LoginLinkRequest,
      summary: 'E-mail a sign-in link to a member (always 202: whether the address is a member is not told)',
      response: { 202: Type.Object({}), 400: Problem, 409: Problem, 429: Problem },
    },
  }, async (request, reply) => {
    const base = linkBase(request, config);
    // Counted like a failed sign-in: an address asking for links is limited like one guessing keys.
    await rateLimits.authFailed(request.ip);
    // Not awaited: neither the answer nor its timing may tell whether the address is a member's.
    void emailLoginLinks(store, request.body.email, base, clock, config.loginLinkTtlMs).then(
      (r) => request.log.info({ sent: r.sent, skipped_without_relay: r.skipped }, 'sign-in links e-mailed'),
      (err: unknown) => request.log.warn({ err }, 'a sign-in link could not be e-mailed'),
    );
    return reply.status(202).send({});
  });

  app.delete('/v1/members/:id/sessions', {
    config: { permission: 'members:manage' },
    schema: {
      tags: ['members'], summary: 'End every session of a member and void their unused sign-in links (they must get a new one)', params: IdParams,
      response: { 200: Type.Object({ revoked: Type.Integer({ description: 'sessions ended' }) }), 400: Problem, 401: Problem, 403: Problem, 404: Problem },
    },
  }, async (request) => {
    const { orgId } = principalOf(request);
    return inOrgTransaction(store, orgId, async (tx) => {
      await getMember(tx, orgId, request.params.id);
      await deleteMemberLoginLinks(tx, orgId, request.params.id);
      return { revoked: await revokeMemberSessions(tx, orgId, request.params.id, isoNow(clock)) };
    });
  });
}
