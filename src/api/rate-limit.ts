/**
 * Rate limits (SPEC section 5: `429 rate_limited` with `Retry-After`), counted by
 * rate-limiter-flexible in the store's counters (`Store.rateLimiter`: this process's memory
 * on SQLite, a table every node shares on PostgreSQL), each over a fixed minute:
 *
 * - **failed authentication per client IP** (`RATE_LIMIT_AUTH_FAILURES`): once an IP has
 *   failed that often, its `/v1` requests are answered 429 until the minute ends, before
 *   any key is checked, so that guessing keys cannot go on. Each node remembers the block
 *   in memory (no store query on the way in); a node learns of failures made on other
 *   nodes at the IP's next failure there.
 * - **requests per API key** (`RATE_LIMIT_REQUESTS`), counted by each node in its memory
 *   (a store write per request would cost more than the limit protects): with N nodes a
 *   key may make up to N times as many.
 * - **sends per identity** (`RATE_LIMIT_SENDS`): first messages, replies and suggestion
 *   sends, so a runaway agent cannot flood a person; shared by every node. A replay of an
 *   idempotent send is answered before it is counted.
 *
 * Limited answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
 * (seconds; draft-ietf-httpapi-ratelimit-headers, as `@fastify/rate-limit` writes them);
 * a 429 adds `Retry-After`. A limit of 0 is off.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Principal } from '../services/access.js';
import { visibleConversation } from './scope.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route sends a message and counts against its identity's `RATE_LIMIT_SENDS`:
     * `body` names the identity in `identity_id`, `conversation` in the conversation `:id`.
     */
    sends?: 'body' | 'conversation';
  }
}

const WINDOW_S = 60;

/** Client IPs blocked on this node, remembered at most (the oldest are dropped first). */
const BLOCKED_IPS_REMEMBERED = 100_000;

export type RateLimitConfig = Pick<Config, 'rateLimitAuthFailures' | 'rateLimitRequests' | 'rateLimitSends'>;

/** The 429 of a limit reached, with `Retry-After` and the limit's headers set on `reply`. */
function limited(reply: FastifyReply, what: string, limit: number, msBeforeNext: number, fix: string): AppError {
  const retryAfterS = Math.max(1, Math.ceil(msBeforeNext / 1000));
  reply.header('retry-after', String(retryAfterS));
  setHeaders(reply, limit, 0, retryAfterS);
  return new AppError('rate_limited', `${what}: at most ${limit} a minute; retry after ${retryAfterS} s.`, { fix, retryable: true });
}

function setHeaders(reply: FastifyReply, limit: number, remaining: number, resetS: number): void {
  reply.header('ratelimit-limit', String(limit));
  reply.header('ratelimit-remaining', String(Math.max(0, remaining)));
  reply.header('ratelimit-reset', String(Math.max(0, resetS)));
}

/** The three limits of one API instance (see the module comment). */
export class RateLimits {
  readonly #config: RateLimitConfig;
  readonly #store: Store;
  readonly #authFailures: RateLimiterAbstract | null;
  readonly #requests: RateLimiterMemory | null;
  readonly #sends: RateLimiterAbstract | null;
  /** IP → epoch ms its block ends, on this node. */
  readonly #blocked = new LRUCache<string, number>({ max: BLOCKED_IPS_REMEMBERED });

  constructor(store: Store, config: RateLimitConfig) {
    this.#config = config;
    this.#store = store;
    const counter = (keyPrefix: string, points: number) => points > 0 ? store.rateLimiter({ keyPrefix, points, durationS: WINDOW_S }) : null;
    this.#authFailures = counter('auth_failures', config.rateLimitAuthFailures);
    this.#sends = counter('sends', config.rateLimitSends);
    this.#requests = config.rateLimitRequests > 0
      ? new RateLimiterMemory({ keyPrefix: 'requests', points: config.rateLimitRequests, duration: WINDOW_S })
      : null;
  }

  /**
   * Before authentication: throws `429 rate_limited` when `ip` has failed authentication
   * too often this minute (known to this node). No store query.
   */
  checkIp(ip: string, reply: FastifyReply): void {
    const until = this.#blocked.get(ip);
    if (until === undefined) return;
    const left = until - Date.now();
    if (left <= 0) return void this.#blocked.delete(ip);
    throw limited(reply, 'Too many failed authentications from this address', this.#config.rateLimitAuthFailures, left,
      'Check the API key (`Authorization: Bearer <key>`); requests from this address are refused until the Retry-After delay has passed.');
  }

  /** Counts a failed authentication of `ip`; blocks it on this node once past the limit. */
  async authFailed(ip: string): Promise<void> {
    if (!this.#authFailures) return;
    const res = await this.#authFailures.consume(ip).catch((r: unknown) => r);
    if (!(res instanceof RateLimiterRes)) throw res; // the store failed
    if (res.consumedPoints >= this.#config.rateLimitAuthFailures) this.#blocked.set(ip, Date.now() + res.msBeforeNext);
  }

  /** Counts a request of the principal's API key; throws `429 rate_limited` past the limit. */
  async request(principal: Principal, reply: FastifyReply): Promise<void> {
    if (!this.#requests) return;
    await this.#consume(this.#requests, principal.keyId, this.#config.rateLimitRequests, reply, 'Too many requests with this API key',
      'Slow down: wait for the Retry-After delay, poll less often (GET /v1/events/stream pushes changes), or raise RATE_LIMIT_REQUESTS.');
  }

  /** Counts a send of the route's identity (its `sends` config); throws `429 rate_limited` past the limit. */
  async send(request: FastifyRequest, principal: Principal, reply: FastifyReply): Promise<void> {
    const from = request.routeOptions.config.sends;
    if (!this.#sends || !from) return;
    const identityId = from === 'body'
      ? (request.body as { identity_id?: unknown } | undefined)?.identity_id
      : (await visibleConversation(this.#store.db, principal, (request.params as { id: string }).id).catch(() => undefined))?.identity_id;
    // Unknown or not this key's to use: the handler answers 404 or 403, nothing is sent,
    // and another identity's count is neither moved nor shown.
    if (typeof identityId !== 'string' || (principal.identityId !== null && identityId !== principal.identityId)) return;
    await this.#consume(this.#sends, `${principal.orgId}:${identityId}`, this.#config.rateLimitSends, reply, 'Too many messages sent by this identity',
      'A loop may be sending the same reply again: check the conversation before sending more, then retry after the Retry-After delay, or raise RATE_LIMIT_SENDS.');
  }

  async #consume(limiter: RateLimiterAbstract, key: string, limit: number, reply: FastifyReply, what: string, fix: string): Promise<void> {
    const res = await limiter.consume(key).catch((r: unknown) => r);
    if (!(res instanceof RateLimiterRes)) throw res; // the store failed
    if (res.consumedPoints > limit) throw limited(reply, what, limit, res.msBeforeNext, fix);
    setHeaders(reply, limit, res.remainingPoints, Math.ceil(res.msBeforeNext / 1000));
  }
}

/**
 * Counts the sends of routes configured with `sends` against their identity's limit.
 * Install after idempotency (api/idempotency.ts): a preHandler that runs after
 * validation (the body names the identity) and after a replay was answered (not counted).
 */
export function installSendLimit(app: FastifyInstance, limits: RateLimits): void {
  app.addHook('preHandler', async (request, reply) => {
    if (request.principal && request.routeOptions.config.sends) await limits.send(request, request.principal, reply);
  });
}
