/**
 * Bearer-key authentication and authorization for `/v1`: resolves the principal every
 * query is scoped by, and checks the permission each route declares in its config.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { Permission, Principal } from '../services/access.js';
import type { Authenticator } from '../services/authentication.js';

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
    ? ' (keys scoped to an identity, and keys acting as an agent member, never hold administrative permissions)'
    : '';
  throw new AppError('missing_permission', `This key lacks the \`${permission}\` permission${why}.`);
}

const isV1 = (url: string) => url.startsWith('/v1/') || url === '/v1';

/**
 * Authenticates every `/v1` request and checks its route's permission before the body
 * is read. A `/v1` route registered without a permission fails at startup.
 */
export function installAuth(app: FastifyInstance, authenticator: Authenticator): void {
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    const config = route.config as { permission?: Permission; providerAuth?: boolean } | undefined;
    if (isV1(route.url) && !config?.permission && !config?.providerAuth) {
      throw new Error(`route ${route.method} ${route.url} declares no permission`);
    }
  });
  app.addHook('onRequest', async (request) => {
    if (!isV1(request.url) || request.routeOptions.config.providerAuth) return;
    const header = request.headers.authorization;
    const key = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    const principal = await authenticator.authenticate(key);
    request.principal = principal;
    const permission = request.routeOptions.config.permission;
    if (permission) requirePermission(principal, permission);
  });
}
