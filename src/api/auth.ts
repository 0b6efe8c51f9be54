/**
 * Authentication and authorization for `/v1`: resolves the principal every query is
 * scoped by, from a bearer API key or, for people in the web inbox, the session cookie
 * (services/sessions.ts), and checks the permission each route declares in its config.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import crypto from 'node:crypto';
import { AppError } from '../errors.js';
import type { Permission, Principal } from '../services/access.js';
import type { Authenticator } from '../services/authentication.js';
import { CSRF_HEADER, SESSION_COOKIE, type SessionAuth } from '../services/sessions.js';
import type { SessionRow } from '../store/sessions.js';
import type { RateLimits } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    /** The session a cookie-authenticated request acts through; null for an API key. */
    session: SessionRow | null;
    /**
     * Checks the request's credential again (the same key or session cookie), for a
     * request that outlives its start (the live stream): the principal it now grants.
     *
     * @throws AppError `unauthenticated` once the key is revoked or the session ended.
     */
    reauthenticate: (() => Promise<Principal>) | null;
  }
  interface FastifyContextConfig {
    /** The permission a `/v1` route needs (every `/v1` route declares one, or `providerAuth`). */
    permission?: Permission;
    /**
     * A provider's webhook (`/v1/inbound/<provider>/…`): no API key; the route checks the
     * provider's own signature or token itself, before it reads anything.
     */
    providerAuth?: boolean;
    /**
     * A route outside `/v1` authenticated by the API key all the same (`POST /mcp`): the
     * key is checked and counted like a `/v1` request's, with no permission of its own
     * (what the route does on the key's behalf is checked where it is done).
     */
    apiKeyAuth?: boolean;
    /**
     * A `/v1` route anyone may call without a credential (signing in: it checks the token
     * it is given itself, counted against the client's address like a failed key).
     */
    publicRoute?: boolean;
    /** A `/v1` route only a session (the cookie) can call: signing out, the current session. */
    sessionOnly?: boolean;
  }
}

/** The caller's principal; only routes under `/v1` have one. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('unauthenticated', 'No API key was sent.');
  return request.principal;
}

/** Throws 403 `missing_permission` unless the principal holds `permission`. */
export function requirePermission(principal: Principal, permission: Permission): void {
  if (principal.permissions.has(permission)) return;
  const why = principal.identityId !== null || principal.role === 'agent'
    ? ' (keys scoped to an identity, and keys acting as an agent member, never hold administrative permissions; keys scoped to an identity never hold views:write either)'
    : '';
  throw new AppError('missing_permission', `This key lacks the \`${permission}\` permission${why}.`);
}

const isV1 = (url: string) => url.startsWith('/v1/') || url === '/v1';
/** Methods that change nothing (RFC 9110 section 9.2.1): no CSRF token needed. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Resolves a session cookie (services/sessions.ts `authenticateSession`). */
export type SessionAuthenticator = (cookie: string) => Promise<SessionAuth>;

/**
 * Authenticates every `/v1` request (and every request of a route configured
 * `apiKeyAuth`) and checks its route's permission before the body is read. A `/v1` route
 * registered without a permission fails at startup.
 *
 * An `Authorization` header wins; without one, a `/v1` request may present the session
 * cookie, and then, unless its method is safe, the session's CSRF token in
 * `X-CSRF-Token` (`403 csrf_failed` otherwise).
 */
export function installAuth(app: FastifyInstance, authenticator: Authenticator, sessions: SessionAuthenticator, limits?: RateLimits): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('session', null);
  app.decorateRequest('reauthenticate', null);
  app.addHook('onRoute', (route) => {
    const config = route.config as { permission?: Permission; providerAuth?: boolean; publicRoute?: boolean; sessionOnly?: boolean } | undefined;
    if (isV1(route.url) && !config?.permission && !config?.providerAuth && !config?.publicRoute && !config?.sessionOnly) {
      throw new Error(`route ${route.method} ${route.url} declares no permission`);
    }
  });
  app.addHook('onRequest', async (request, reply) => {
    const { providerAuth, apiKeyAuth, publicRoute, sessionOnly } = request.routeOptions.config;
    if (!(isV1(request.url) || apiKeyAuth) || providerAuth) return;
    // An address that failed too often is refused before its key is even looked at.
    limits?.checkIp(request.ip, reply);
    if (publicRoute) return;
    const header = request.headers.authorization;
    const cookie = header === undefined && isV1(request.url) ? request.cookies[SESSION_COOKIE] : undefined;
    const failed = async (err: unknown): Promise<never> => {
      await limits?.authFailed(request.ip);
      throw err;
    };
    let principal: Principal;
    if (cookie !== undefined) {
      const auth = await sessions(cookie).catch((err: unknown) => {
        // A cookie of an ended session is dropped, so the browser stops presenting it.
        reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return failed(err);
      });
      if (!SAFE_METHODS.has(request.method) && !sameToken(request.headers[CSRF_HEADER], auth.session.csrf_token)) {
        throw new AppError('csrf_failed', `A ${request.method} signed in by the session cookie needs the session's CSRF token in the X-CSRF-Token header.`, { param: CSRF_HEADER });
      }
      principal = auth.principal;
      request.session = auth.session;
      request.reauthenticate = async () => (await sessions(cookie)).principal;
    } else {
      if (sessionOnly) throw new AppError('unauthenticated', 'This route is for a signed-in person: send the session cookie, not an API key.', { fix: 'Sign in with a sign-in link (POST /v1/auth/sessions) first.' });
      const key = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
      // One check, run now and again by a request that outlives its start (its secret hashed once).
      const check = authenticator.recheck(key);
      principal = await check().catch(failed);
      request.reauthenticate = check;
    }
    request.principal = principal;
    const permission = request.routeOptions.config.permission;
    if (permission) requirePermission(principal, permission);
    await limits?.request(principal, reply);
  });
}

/** Whether a header's value is the expected token (compared in constant time). */
function sameToken(sent: string | string[] | undefined, expected: string): boolean {
  if (typeof sent !== 'string') return false;
  const [a, b] = [Buffer.from(sent), Buffer.from(expected)];
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
