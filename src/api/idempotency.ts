/**
 * `Idempotency-Key` for writes (SPEC section 5): within 24 hours a retry with the same
 * key and body gets the first response again (`Idempotent-Replayed: true`); the same key
 * with another body, or while the first request still runs, is a 409
 * `idempotency_conflict`. A transient answer is never kept as the key's final answer
 * ({@link isTransientAnswer}: a 5xx, a 429, a `409 sender_disconnected`, any problem with
 * `retryable: true`), so the retry runs again.
 *
 * Keys are per organization and per API key: the same header sent with another API key
 * is that key's own first request, authorized and scoped like any other (issue 19: a
 * key scoped to one identity must not be answered with what an org-wide key did).
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
    /**
     * The `Idempotency-Key` this request claimed, qualified by the caller's API key id
     * (`key_…:<header>`), or null: what a route keys its own records by (an outbound
     * channel message, services/send-channel.ts), so that they are per API key as well.
     */
    idempotencyKey: string | null;
  }
}

/** `key_id` of rows written before keys were kept per API key (migration 0010). */
const UNKNOWN_KEY_ID = '';

/** The claim a request holds until its answer is recorded. */
const claims = new WeakMap<FastifyRequest, { readonly orgId: string; readonly keyId: string; readonly key: string }>();

/** How long a first request may run before its key counts as abandoned, ms (longer than any send). */
export const IN_PROGRESS_TTL_MS = 5 * 60 * 1000;

/** Problem codes that describe a state a retry may find changed (the account reconnected). */
const TRANSIENT_CODES: ReadonlySet<string> = new Set(['sender_disconnected']);

/**
 * Whether an answer only says "not now": a 5xx, a 429, or a problem whose `code` is a
 * state that may change ({@link TRANSIENT_CODES}) or that says `retryable: true`. Such an
 * answer is not kept under the Idempotency-Key, so a retry with the key runs the request
 * again instead of replaying the refusal (Inkbox: a 502 means "retry with the same key").
 *
 * @param statusCode the HTTP status sent.
 * @param payload the serialized body (a problem+json string for errors).
 */
export function isTransientAnswer(statusCode: number, payload: unknown): boolean {
  if (statusCode >= 500 || statusCode === 429) return true;
  if (statusCode < 400) return false;
  const problem = parseProblem(payload);
  if (!problem) return false;
  return problem.retryable === true || (typeof problem.code === 'string' && TRANSIENT_CODES.has(problem.code));
}

/** A serialized problem body's `code` and `retryable`, or null when it is not a JSON object. */
function parseProblem(payload: unknown): { readonly code?: unknown; readonly retryable?: unknown } | null {
  const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : null;
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' ? value as { code?: unknown; retryable?: unknown } : null;
  } catch {
    return null;
  }
}

function requestHash(request: FastifyRequest): string {
  const body = Buffer.isBuffer(request.body) ? request.body.toString('base64') : JSON.stringify(request.body ?? null);
  return crypto.createHash('sha256').update(`${request.method} ${request.url}\n${body}`).digest('hex');
}

/**
 * Honours `Idempotency-Key` on routes whose config says `idempotent` (a `preHandler`, so
 * after authentication and validation).
 */
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
    const { orgId, keyId, identityId } = principalOf(request);
    const route = `${request.method} ${request.routeOptions.url}`;
    const hash = requestHash(request);
    const now = new Date();
    const inProgress = () => new AppError('idempotency_conflict', 'A request with this Idempotency-Key is still in progress.', {
      param: 'Idempotency-Key', retryable: true, fix: 'Wait for the first request to finish, then retry.',
    });
    // Two first requests racing for one key: the unique key lets one claim it; the other
    // finds it in progress.
    const claimed = await store.transaction(async (tx) => {
      const found = await tx.selectFrom('idempotency_keys').selectAll()
        .where('org_id', '=', orgId).where('key', '=', key).where('key_id', 'in', [keyId, UNKNOWN_KEY_ID]).execute();
      // A claim still without an answer after IN_PROGRESS_TTL_MS was left by a process
      // that died mid-request: the retry takes it over rather than waiting out the day.
      const live = found.filter((r) => {
        const age = now.getTime() - Date.parse(r.created_at);
        return age < IDEMPOTENCY_TTL_MS && !(r.status_code === null && age > IN_PROGRESS_TTL_MS);
      });
      const own = live.find((r) => r.key_id === keyId);
      if (own) return own;
      const unknown = live.find((r) => r.key_id === UNKNOWN_KEY_ID);
      if (unknown) {
        // Written before keys were per API key, by some key of the organization: an
        // org-wide key's retry gets it as before; a scoped key, which may not see what
        // that key did, gets neither the answer nor a second run.
        if (identityId === null) return unknown;
        throw new AppError('idempotency_conflict', 'This Idempotency-Key was used by another key of the organization before this server kept keys per API key.', {
          param: 'Idempotency-Key', fix: 'Send the request with a new Idempotency-Key.',
        });
      }
      if (found.length > 0) {
        await tx.deleteFrom('idempotency_keys').where('org_id', '=', orgId).where('key', '=', key)
          .where('key_id', 'in', [keyId, UNKNOWN_KEY_ID]).execute();
      }
      await tx.insertInto('idempotency_keys').values({
        org_id: orgId, key_id: keyId, key, route, request_hash: hash, status_code: null, response: null, created_at: now.toISOString(),
      }).execute();
      return null;
    }).catch((err: unknown) => {
      if (isUniqueViolation(err)) throw inProgress();
      throw err;
    });
    if (!claimed) {
      claims.set(request, { orgId, keyId, key });
      request.idempotencyKey = `${keyId}:${key}`;
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
    const claim = claims.get(request);
    if (!claim) return payload;
    claims.delete(request);
    const { orgId, keyId, key } = claim;
    if (isTransientAnswer(reply.statusCode, payload)) {
      await store.db.deleteFrom('idempotency_keys').where('org_id', '=', orgId).where('key_id', '=', keyId).where('key', '=', key).execute();
    } else {
      await store.db.updateTable('idempotency_keys')
        .set({ status_code: reply.statusCode, response: typeof payload === 'string' ? payload : JSON.stringify(payload ?? null) })
        .where('org_id', '=', orgId).where('key_id', '=', keyId).where('key', '=', key).execute();
    }
    return payload;
  });
}
