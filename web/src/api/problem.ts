/**
 * Errors of the API as one class: the problem details (RFC 9457) the server answers with,
 * or a stand-in when the request never got an answer.
 */
import type { Problem } from './types';

/** A failed API call: `status` 0 when the server could not be reached. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: Problem['code'] | 'network_error' | 'unexpected_response';
  readonly detail: string;
  readonly fix: string | null;
  readonly param: string | null;
  readonly retryable: boolean;

  constructor(status: number, problem: Partial<Omit<Problem, 'code'>> & { code: ApiError['code'] }) {
    super(problem.detail ?? problem.title ?? `Request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code;
    this.detail = problem.detail ?? problem.title ?? `Request failed (${status})`;
    this.fix = problem.fix ?? null;
    this.param = problem.param ?? null;
    this.retryable = problem.retryable ?? status >= 500;
  }
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && 'code' in body && 'detail' in body;
}

/** The error of an answer that is not 2xx, from its problem+json body when it has one. */
export function problemError(response: Response, body: unknown): ApiError {
  if (isProblem(body)) return new ApiError(response.status, body);
  return new ApiError(response.status, {
    code: 'unexpected_response',
    detail: `The server answered ${response.status} ${response.statusText}`.trim(),
  });
}

/** The error of a request that got no answer (offline, server down, aborted). */
export function networkError(cause: unknown): ApiError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ApiError(0, { code: 'network_error', detail: `The server could not be reached (${detail}).`, retryable: true });
}

/** Whether `err` is the API saying the session is gone (signed out, expired, revoked). */
export const isUnauthenticated = (err: unknown): boolean => err instanceof ApiError && err.status === 401;
