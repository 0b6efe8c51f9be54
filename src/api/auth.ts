/**
 * Bearer-key authentication for `/v1`: resolves the principal every query is scoped by.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { authenticate, type Principal } from '../services/tenants.js';
import type { Store } from '../store/store.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The caller's principal; only routes under `/v1` have one. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('unauthenticated', 'No API key was sent.');
  return request.principal;
}

/** Authenticates every `/v1` request before its body is read. */
export function installAuth(app: FastifyInstance, store: Store): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/') && request.url !== '/v1') return;
    const header = request.headers.authorization;
    const key = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    request.principal = await authenticate(store, key);
  });
}
