/**
 * The errors the SDK throws: one class, {@link SwitchboardError}, carrying the server's
 * problem details (RFC 9457: `code`, `detail`, `fix`, `param`, `retryable`), with a
 * subclass per status family to catch by kind.
 */
import type { FieldProblem, Problem, ProblemCode } from './types.js';

/** Codes of failures that got no answer from the server. */
export type ClientErrorCode = 'connection_failed' | 'timeout' | 'unexpected_response';

/** What went wrong: the server's stable code, or one of the client's own. */
export type SwitchboardErrorCode = ProblemCode | ClientErrorCode;

/** The fields of a {@link SwitchboardError}. */
export interface SwitchboardErrorInit {
  readonly status: number;
  readonly code: SwitchboardErrorCode;
  readonly detail: string;
  readonly fix?: string | null;
  readonly param?: string | null;
  readonly retryable?: boolean;
  readonly errors?: readonly FieldProblem[];
  readonly problem?: Problem | null;
  readonly headers?: Headers | null;
  readonly cause?: unknown;
}

/**
 * A failed call. `status` is the HTTP status (0 when no answer came); `code` the
 * server's stable code (`not_found`, `validation_failed`, …) or the client's own
 * (`connection_failed`, `timeout`, `unexpected_response`); `fix` says what to do about
 * it; `retryable` whether the same call (with the same Idempotency-Key) may succeed
 * later, which the client has already tried `maxRetries` times when it throws.
 */
export class SwitchboardError extends Error {
  readonly status: number;
  readonly code: SwitchboardErrorCode;
  readonly detail: string;
  readonly fix: string | null;
  /** The parameter at fault (a body field, query parameter or header), or null. */
  readonly param: string | null;
  readonly retryable: boolean;
  /** `validation_failed`: every problem of the request. */
  readonly errors: readonly FieldProblem[];
  /** The problem details as the server sent them, or null. */
  readonly problem: Problem | null;
  /** The answer's headers (`Retry-After`, `RateLimit-*`), or null. */
  readonly headers: Headers | null;

  constructor(init: SwitchboardErrorInit) {
    super(`${init.status ? `${init.status} ` : ''}${init.code}: ${init.detail}`, { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.fix = init.fix ?? null;
    this.param = init.param ?? null;
    this.retryable = init.retryable ?? false;
    this.errors = init.errors ?? [];
    this.problem = init.problem ?? null;
    this.headers = init.headers ?? null;
  }
}

/** 400: the request is invalid (`validation_failed`, `no_valid_fields`). */
export class BadRequestError extends SwitchboardError {}
/** 401: no valid API key. */
export class AuthenticationError extends SwitchboardError {}
/** 403: the key may not do this, or a rule blocks the recipient. */
export class PermissionDeniedError extends SwitchboardError {}
/** 404: no such resource, or not visible to this key. */
export class NotFoundError extends SwitchboardError {}
/** 409: a conflict with the current state. */
export class ConflictError extends SwitchboardError {}
/** 422: well-formed, but it cannot be carried out. */
export class UnprocessableEntityError extends SwitchboardError {}
/** 429: a rate limit was reached. */
export class RateLimitError extends SwitchboardError {}
/** 5xx: the server or a provider behind it failed. */
export class ServerError extends SwitchboardError {}
/** No answer: the connection failed or the attempt timed out. */
export class ConnectionError extends SwitchboardError {}

const BY_STATUS: Readonly<Record<number, typeof SwitchboardError>> = {
  400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
  409: ConflictError, 422: UnprocessableEntityError, 429: RateLimitError,
};

/** Whether a parsed body is problem details. */
export function isProblem(body: unknown): body is Problem {
  const p = body as Partial<Problem> | null;
  return p !== null && typeof p === 'object' && typeof p.code === 'string' && typeof p.status === 'number' && typeof p.detail === 'string';
}

/** Statuses a proxy or load balancer answers for a moment's trouble, retried when no problem details say otherwise. */
const TRANSIENT_STATUSES = new Set([408, 502, 503, 504]);

/**
 * The error of a failed answer.
 *
 * @param response the answer (its status and headers are kept).
 * @param body its body, parsed as JSON where it was JSON.
 * @returns a {@link SwitchboardError} of the status's class; `retryable` from the problem
 *   details, or for an answer without them (a proxy's page) true on 408, 429, 502, 503, 504.
 */
export function errorFromResponse(response: Response, body: unknown): SwitchboardError {
  const Kind = BY_STATUS[response.status] ?? (response.status >= 500 ? ServerError : SwitchboardError);
  if (isProblem(body)) {
    return new Kind({
      status: response.status, code: body.code, detail: body.detail, fix: body.fix, param: body.param,
      retryable: body.retryable || response.status === 429, errors: body.errors, problem: body, headers: response.headers,
    });
  }
  const text = typeof body === 'string' ? body.slice(0, 200) : '';
  return new Kind({
    status: response.status, code: 'unexpected_response',
    detail: `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''} without problem details${text ? `: ${text}` : ''}`,
    retryable: response.status === 429 || TRANSIENT_STATUSES.has(response.status), headers: response.headers,
  });
}

/**
 * The error of an attempt that got no answer.
 *
 * @param cause what `fetch` threw.
 * @param timedOut whether the attempt's own timeout ended it.
 */
export function connectionError(cause: unknown, timedOut: boolean): ConnectionError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ConnectionError({
    status: 0, code: timedOut ? 'timeout' : 'connection_failed', retryable: true, cause,
    detail: timedOut ? 'The request timed out.' : `The request got no answer: ${why}`,
    fix: 'Check the base URL and the network; the call is safe to retry (writes carry an Idempotency-Key).',
  });
}
