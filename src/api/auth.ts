/**
 * Bearer-key authentication and authorization for `/v1`: resolves the principal every
 * query is scoped by, and checks the permission each route declares in its config.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { Permission, Principal } from '../services/access.js';
import type { Authenticator } from '../services/authentication.js';
import type { RateLimits } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
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

/**
 * Authenticates every `/v1` request (and every request of a route configured
 * `apiKeyAuth`) and checks its route's permission before the body is read. A `/v1` route
 * registered without a permission fails at startup.
 */
export function installAuth(app: FastifyInstance, authenticator: Authenticator, limits?: RateLimits): void {
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    const config = route.config as { permission?: Permission; providerAuth?: boolean } | undefined;
    if (isV1(route.url) && !config?.permission && !config?.providerAuth) {
      throw new Error(`route ${route.method} ${route.url} declares no permission`);
    }
  });
  app.addHook('onRequest', async (request, reply) => {
    const { providerAuth, apiKeyAuth } = request.routeOptions.config;
    if (!(isV1(request.url) || apiKeyAuth) || providerAuth) return;
    // An address that failed too often is refused before its key is even looked at.
    limits?.checkIp(request.ip, reply);
    const header = request.headers.authorization;
    const key = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    const principal = await authenticator.authenticate(key).catch(async (err: unknown) => {
      await limits?.authFailed(request.ip);
      throw err;
    });
    request.principal = principal;
    const permission = request.routeOptions.config.permission;
    if (permission) requirePermission(principal, permission);
    await limits?.request(principal, reply);
  });
}
