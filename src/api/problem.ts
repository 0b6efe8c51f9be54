/**
 * The one error renderer: every failure leaves as `application/problem+json`
 * (RFC 9457) with a stable code. Unknown errors become a 500 without internals.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, toProblem, type ErrorCode } from '../errors.js';

/** Fastify's own client errors, by status, mapped onto our codes. */
const FRAMEWORK_CODES: Record<number, ErrorCode> = {
  400: 'validation_failed',
  404: 'not_found',
  405: 'not_found',
  413: 'payload_too_large',
  414: 'validation_failed',
  415: 'unsupported_media_type',
};

/** The field a JSON-schema validation error points at, in dotted form. */
function paramOf(err: FastifyError): string | undefined {
  const v = err.validation?.[0];
  if (!v) return undefined;
  const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const params = v.params as { missingProperty?: string; additionalProperty?: string };
  const leaf = params.missingProperty ?? params.additionalProperty;
  const where = err.validationContext === 'body' ? '' : `${err.validationContext ?? ''}`;
  const full = [path, leaf].filter(Boolean).join('.');
  return full || where || undefined;
}

/** Converts anything thrown in a request into an {@link AppError}. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as FastifyError;
  if (e?.validation) {
    const param = paramOf(e);
    const detail = `${param ?? e.validationContext ?? 'request'} ${e.validation[0]?.message ?? 'is not valid'}`;
    return new AppError('validation_failed', detail, { param });
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

export function sendProblem(reply: FastifyReply, err: AppError): FastifyReply {
  return reply.status(err.status).type('application/problem+json').send(toProblem(err));
}

/** Installs the error and not-found handlers on an app. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const appError = toAppError(err);
    if (appError.status >= 500) request.log.error({ err }, 'request failed');
    return sendProblem(reply, appError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new AppError('not_found', `No route ${request.method} ${request.url.split('?')[0]}.`, {
      fix: 'Check the method and path against GET /openapi.json.',
    })));
}
