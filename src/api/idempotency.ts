/**
 * `Idempotency-Key` for writes (SPEC section 5): within 24 hours a retry with the same
 * key and body gets the first response again (`Idempotent-Replayed: true`); the same key
 * with another body, or while the first request still runs, is a 409
 * `idempotency_conflict`. A 5xx is not kept, so the retry runs again.
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IDEMPOTENCY_TTL_MS } from '../domain/idempotency.js';
import { AppError } from '../errors.js';
import { isUniqueViolation } from '../store/errors.js';
import type { Store } from '../store/store.js';
import { principalOf } from './auth.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Honour `Idempotency-Key` on this route. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotencyKey: string | null;
  }
}

/** How long a first request may run before its key counts as abandoned, ms (longer than any send). */
export const IN_PROGRESS_TTL_MS = 5 * 60 * 1000;

function requestHash(request: FastifyRequest): string {
  const body = Buffer.isBuffer(request.body) ? request.body.toString('base64') : JSON.stringify(request.body ?? null);
  return crypto.createHash('sha256').update(`${request.method} ${request.url}\n${body}`).digest('hex');
}

export function installIdempotency(app: FastifyInstance, store: Store): void {
  app.decorateRequest('idempotencyKey', null);

  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.routeOptions.config.idempotent) return;
    const raw = request.headers['idempotency-key'];
    if (raw === undefined) return;
    const key = Array.isArray(raw) ? raw[0] ?? '' : raw;
    if (key.length < 1 || key.length > 255) {
      throw new AppError('validation_failed', 'Idempotency-Key must be 1 to 255 characters.', { param: 'Idempotency-Key' });
    }
    const { orgId } = principalOf(request);
    const route = `${request.method} ${request.routeOptions.url}`;
    const hash = requestHash(request);
    const now = new Date();
    const inProgress = () => new AppError('idempotency_conflict', 'A request with this Idempotency-Key is still in progress.', {
      param: 'Idempotency-Key', retryable: true, fix: 'Wait for the first request to finish, then retry.',
    });
    // Two first requests racing for one key: the unique key lets one claim it; the other
    // finds it in progress.
    const claimed = await store.transaction(async (tx) => {
      const existing = await tx.selectFrom('idempotency_keys').selectAll()
        .where('org_id', '=', orgId).where('key', '=', key).executeTakeFirst();
      const age = existing ? now.getTime() - Date.parse(existing.created_at) : 0;
      // A claim still without an answer after IN_PROGRESS_TTL_MS was left by a process
      // that died mid-request: the retry takes it over rather than waiting out the day.
      const abandoned = existing?.status_code === null && age > IN_PROGRESS_TTL_MS;
      if (existing && age < IDEMPOTENCY_TTL_MS && !abandoned) return existing;
      if (existing) await tx.deleteFrom('idempotency_keys').where('org_id', '=', orgId).where('key', '=', key).execute();
      await tx.insertInto('idempotency_keys').values({
        org_id: orgId, key, route, request_hash: hash, status_code: null, response: null, created_at: now.toISOString(),
      }).execute();
      return null;
    }).catch((err: unknown) => {
      if (isUniqueViolation(err)) throw inProgress();
      throw err;
    });
    if (!claimed) {
      request.idempotencyKey = key;
      return;
    }
    if (claimed.request_hash !== hash || claimed.route !== route) {
      throw new AppError('idempotency_conflict', 'This Idempotency-Key was used with a different request.', { param: 'Idempotency-Key' });
    }
    if (claimed.status_code === null) throw inProgress();
    reply.header('idempotent-replayed', 'true').status(claimed.status_code);
    const isProblem = claimed.status_code >= 400;
    return reply.type(isProblem ? 'application/problem+json' : 'application/json').send(JSON.parse(claimed.response ?? 'null'));
  });

  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const key = request.idempotencyKey;
    if (!key) return payload;
    request.idempotencyKey = null;
    const { orgId } = principalOf(request);
    if (reply.statusCode >= 500) {
      await store.db.deleteFrom('idempotency_keys').where('org_id', '=', orgId).where('key', '=', key).execute();
    } else {
      await store.db.updateTable('idempotency_keys')
        .set({ status_code: reply.statusCode, response: typeof payload === 'string' ? payload : JSON.stringify(payload ?? null) })
        .where('org_id', '=', orgId).where('key', '=', key).execute();
    }
    return payload;
  });
}
