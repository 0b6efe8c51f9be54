/**
 * The one HTTP client of the app: openapi-fetch typed by the OpenAPI document, sending
 * the session cookie (same origin) and, on every request that changes something, the
 * session's CSRF token in `X-CSRF-Token`.
 */
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from '@switchboard/sdk';
import { networkError, problemError } from './problem';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
let csrfToken: string | null = null;
let onUnauthenticated: () => void = () => {};
let onCsrfFailed: () => void = () => {};

/** Sets the CSRF token of the signed-in session (null once signed out). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when an API answer says the session is gone (a 401 from a signed-in route). */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

/**
 * Called when a write was refused for its CSRF token (`403 csrf_failed`): the cookie now
 * holds another session (a sign-in in another tab), whose token must be read again.
 */
export function setCsrfFailedHandler(handler: () => void): void {
  onCsrfFailed = handler;
}

/** Routes that answer 401 for a reason other than a lost session (a bad sign-in token). */
const PUBLIC_PATHS = new Set(['/v1/auth/sessions', '/v1/auth/login_links']);

const session: Middleware = {
  onRequest({ request }) {
    if (!SAFE_METHODS.has(request.method) && csrfToken) request.headers.set('X-CSRF-Token', csrfToken);
    return request;
  },
  async onResponse({ response, schemaPath }) {
    if (response.status === 401 && !PUBLIC_PATHS.has(schemaPath) && schemaPath !== '/v1/auth/session') onUnauthenticated();
    if (response.status === 403) {
      const problem = (await response.clone().json().catch(() => null)) as { code?: string } | null;
      if (problem?.code === 'csrf_failed') onCsrfFailed();
    }
    return undefined;
  },
  onError({ error }) {
    // A request cancelled on purpose (a query no longer needed) stays an AbortError.
    if (error instanceof DOMException && error.name === 'AbortError') return error;
    return networkError(error);
  },
};

export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' });
api.use(session);

/**
 * The data of an openapi-fetch result, or its problem thrown as an `ApiError`.
 *
 * @throws ApiError when the answer is not 2xx.
 */
export function unwrap<D>(result: { data?: D; error?: unknown; response: Response }): D {
  if (!result.response.ok) throw problemError(result.response, result.error);
  return result.data as D;
}
