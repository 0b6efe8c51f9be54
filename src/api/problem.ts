/**
 * The one error renderer: every failure leaves as `application/problem+json`
 * (RFC 9457) with a stable code. Unknown errors become a 500 without internals.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, toProblem, type ErrorCode } from '../errors.js';
import type { AllowedMethods } from './allowed-methods.js';
import type { AppShell } from './web-app.js';
import { describeErrors, summarize } from './validation-errors.js';

/** Fastify's own client errors, by status, mapped onto our codes. */
const FRAMEWORK_CODES: Record<number, ErrorCode> = {
  400: 'validation_failed',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  414: 'validation_failed',
  415: 'unsupported_media_type',
};

/** Converts anything thrown in a request into an {@link AppError}. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as FastifyError;
  if (e?.validation) {
    const described = describeErrors(e.validation as never, e.validationContext ?? 'request');
    return new AppError('validation_failed', summarize(described), { param: described.items[0]?.param, errors: described.items });
  }
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  const code = FRAMEWORK_CODES[status];
  if (code) {
    const detail = code === 'validation_failed' && /JSON/i.test(e.message)
      ? 'The body is not valid JSON.'
      : e.message || ERROR_TITLE(code);
    return new AppError(code, detail);
  }
  return new AppError('internal_error', 'The server failed to handle this request.', { cause: err });
}

const ERROR_TITLE = (code: ErrorCode) => code.replace(/_/g, ' ');

/**
 * The `WWW-Authenticate` challenge of a 401 (RFC 6750 section 3): `Bearer`, with
 * `error="invalid_token"` when the request carried a bearer token that was refused.
 */
export function bearerChallenge(authorization: string | undefined): string {
  const challenge = 'Bearer realm="switchboard"';
  return /^Bearer\s+\S/i.test(authorization ?? '')
    ? `${challenge}, error="invalid_token", error_description="The API key is malformed, unknown or revoked"`
    : challenge;
}

/** Sends an {@link AppError} as problem details (a 401 `unauthenticated` with its challenge). */
export function sendProblem(reply: FastifyReply, err: AppError): FastifyReply {
  if (err.code === 'unauthenticated') reply.header('www-authenticate', bearerChallenge(reply.request.headers.authorization));
  return reply.status(err.status).type('application/problem+json').send(toProblem(err));
}

/**
 * Installs the error and not-found handlers on an app: a path that exists under other
 * methods (per `routes`) is a `405 method_not_allowed` with `Allow`, a page of the web
 * app (per `shell`) its shell, else `404 not_found`.
 */
export function installProblemHandlers(app: FastifyInstance, routes?: AllowedMethods, shell?: AppShell): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const appError = toAppError(err);
    if (appError.status >= 500) request.log.error({ err }, 'request failed');
    return sendProblem(reply, appError);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = routes?.of(path) ?? [];
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(reply, new AppError('method_not_allowed', `${path} does not answer ${request.method}; it answers ${allowed.join(', ')}.`, {
        fix: `Use ${allowed.join(' or ')} (see the Allow header); GET /openapi.json lists each path's operations.`,
      }));
    }
    if (shell?.(request, reply)) return reply;
    return sendProblem(reply, new AppError('not_found', `No route ${request.method} ${path}.`, {
      fix: 'Check the method and path against GET /openapi.json.',
    }));
  });
}
