/**
 * The signed-in person's session: read once from `GET /v1/auth/session`, started by a
 * one-time sign-in link (`POST /v1/auth/sessions`), ended by signing out. Its CSRF token
 * goes to the API client.
 *
 * A browser that never signed in has no session cookie; a hint in localStorage (set on
 * sign-in, cleared on sign-out or a 401) spares it a request the server can only refuse.
 */
import { useQuery, type QueryClient } from '@tanstack/react-query';
import { api, setCsrfToken, unwrap } from '../api/client';
import { keys } from '../api/keys';
import { isUnauthenticated } from '../api/problem';
import type { Session } from '../api/types';

const HINT = 'switchboard.signed-in';

function readHint(): boolean {
  try {
    return localStorage.getItem(HINT) === '1';
  } catch {
    return true;
  }
}

function writeHint(signedIn: boolean): void {
  try {
    if (signedIn) localStorage.setItem(HINT, '1');
    else localStorage.removeItem(HINT);
  } catch {
    // Storage refused (private mode): the session request is then always made.
  }
}

async function fetchSession(signal: AbortSignal): Promise<Session | null> {
  if (!readHint()) return null;
  try {
    const session = unwrap(await api.GET('/v1/auth/session', { signal }));
    setCsrfToken(session.csrf_token);
    return session;
  } catch (err) {
    if (!isUnauthenticated(err)) throw err;
    writeHint(false);
    setCsrfToken(null);
    return null;
  }
}

/**
 * The session, `null` when signed out, `undefined` while it is being read. Not read while
 * `enabled` is false (on the sign-in link's page, which makes one).
 */
export function useSession(enabled = true) {
  return useQuery({ queryKey: keys.session, queryFn: ({ signal }) => fetchSession(signal), staleTime: Infinity, retry: 1, enabled });
}

/** The signed-in member's session; only for components under the signed-in shell. */
export function useSignedIn(): Session {
  const { data } = useSession();
  if (!data) throw new Error('useSignedIn outside a signed-in session');
  return data;
}

function enter(qc: QueryClient, session: Session): void {
  setCsrfToken(session.csrf_token);
  writeHint(true);
  // Nothing read under an earlier session (perhaps another member's) may show under this one.
  qc.removeQueries({ predicate: (q) => q.queryKey[0] !== keys.session[0] });
  qc.setQueryData(keys.session, session);
}

/** Sign-in exchanges, by token: a token works once, so a second render must not spend it again. */
const exchanges = new Map<string, Promise<Session>>();

/**
 * Exchanges a sign-in link's token for a session (the server sets the cookie).
 *
 * @throws ApiError `401 unauthenticated` for a used, expired or unknown token.
 */
export function signInWithToken(qc: QueryClient, token: string): Promise<Session> {
  let exchange = exchanges.get(token);
  if (!exchange) {
    exchange = api.POST('/v1/auth/sessions', { body: { token } }).then(unwrap);
    exchanges.set(token, exchange);
  }
  return exchange.then((session) => {
    enter(qc, session);
    return session;
  });
}

/** Forgets everything of the session here, after the server ended it (or said it had). */
export function leave(qc: QueryClient): void {
  writeHint(false);
  setCsrfToken(null);
  qc.cancelQueries();
  qc.removeQueries({ predicate: (q) => q.queryKey[0] !== keys.session[0] });
  qc.setQueryData(keys.session, null);
}

/** Signs out: ends the session on the server, then here. */
export async function signOut(qc: QueryClient): Promise<void> {
  try {
    unwrap(await api.DELETE('/v1/auth/session'));
  } catch (err) {
    if (!isUnauthenticated(err)) throw err;
  }
  leave(qc);
}

/** Asks for a sign-in link by e-mail; the server answers 202 whether or not the address is a member's. */
export async function requestLoginLink(email: string): Promise<void> {
  unwrap(await api.POST('/v1/auth/login_links', { body: { email } }));
}
