/**
 * A Twilio REST client for what the SMS channel needs: creating a message (Programmable
 * Messaging, "Create a Message resource": `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
 * form-encoded, HTTP basic auth AccountSid:AuthToken) and fetching the media of an
 * incoming MMS. Every failure is an {@link UpstreamError} saying whether a retry may help.
 *
 * https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
 * https://www.twilio.com/docs/usage/requests-to-twilio (authentication, errors)
 */
import { UpstreamError } from '../adapter.js';
import { outboundFailure, outboundFetch, readAtMost, refusalOf } from '../../net/outbound.js';

/** Twilio's public API. */
export const TWILIO_BASE_URL = 'https://api.twilio.com';

/** The settings of one Twilio account, from a channel account's `config`. */
export interface TwilioCredentials {
  /** `AC…` Account SID. */
  readonly accountSid: string;
  readonly authToken: string;
  /** API origin (and optional path prefix), no trailing slash: {@link TWILIO_BASE_URL} unless the account's config says otherwise. */
  readonly baseUrl: string;
}

/**
 * Reads `account_sid`, `auth_token` and `base_url` from a channel account's config.
 *
 * @returns null when `account_sid` or `auth_token` is missing.
 */
export function twilioCredentials(config: Record<string, unknown>): TwilioCredentials | null {
  const { account_sid: accountSid, auth_token: authToken, base_url: baseUrl } = config;
  if (typeof accountSid !== 'string' || !accountSid || typeof authToken !== 'string' || !authToken) return null;
  return {
    accountSid, authToken,
    baseUrl: (typeof baseUrl === 'string' && baseUrl ? baseUrl : TWILIO_BASE_URL).replace(/\/+$/, ''),
  };
}

/** `Authorization` header value for HTTP basic auth with the account's SID and token. */
export function basicAuth(credentials: TwilioCredentials): string {
  return `Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64')}`;
}

export interface CreateMessageInput {
  /** E.164. */
  readonly to: string;
  /** E.164 (the account's number). */
  readonly from: string;
  readonly body: string;
  /** Where Twilio posts this message's status changes, or null for none. */
  readonly statusCallback: string | null;
  /** Public URLs Twilio fetches the attachments from (MMS; one `MediaUrl` parameter each, at most 10). */
  readonly mediaUrls?: readonly string[];
}

/** Twilio's error body (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions). */
interface TwilioErrorBody {
  readonly code?: number;
  readonly message?: string;
}

/** How a request to Twilio (or the account's `base_url`) is made. */
export interface TwilioRequestOptions {
  /** The whole request's budget, ms. */
  readonly timeoutMs: number;
  /** Whether `base_url` and media URLs may reach private addresses (net/outbound.ts). */
  readonly outboundAllowPrivate: boolean;
}

/** Largest provider answer read, bytes (a message resource is about 1 KB). */
const MAX_ANSWER_BYTES = 256 * 1024;

/**
 * Creates an outbound message.
 *
 * @returns the new message's `sid` (`SM…`).
 * @throws UpstreamError `retryable` for a 5xx, a timeout or an unreachable API; not
 *   retryable with `accountStatus: 'error'` for 401/403 (credentials refused) and for a
 *   `base_url` on a refused private address; not retryable for other 4xx (e.g. 21211,
 *   an invalid `To`).
 */
export async function createMessage(credentials: TwilioCredentials, input: CreateMessageInput, options: TwilioRequestOptions): Promise<{ sid: string }> {
  const { timeoutMs } = options;
  const form = new URLSearchParams({ To: input.to, From: input.from, Body: input.body });
  if (input.statusCallback) form.set('StatusCallback', input.statusCallback);
  for (const url of input.mediaUrls ?? []) form.append('MediaUrl', url);
  const url = `${credentials.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(credentials.accountSid)}/Messages.json`;
  let res: Response;
  let text: string;
  try {
    res = await outboundFetch(options, url, {
      method: 'POST',
      headers: { authorization: basicAuth(credentials), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form,
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = new TextDecoder().decode(await readBounded(res, MAX_ANSWER_BYTES));
  } catch (err) {
    throw networkError(err, timeoutMs);
  }
  if (res.ok) {
    const sid = parseJson<{ sid?: unknown }>(text)?.sid;
    if (typeof sid !== 'string' || !sid) throw new UpstreamError(`Twilio answered ${res.status} without a message sid`, { retryable: true, status: res.status });
    return { sid };
  }
  throw answerError(res.status, parseJson<TwilioErrorBody>(text));
}

/**
 * Fetches one media item of an incoming message (a `MediaUrl{N}` of the webhook). The
 * account's credentials go only to the account's API origin (Twilio answers with a
 * redirect to its media store, which fetch follows without them).
 *
 * @param maxBytes refused above this size, bytes.
 * @throws UpstreamError `retryable` for a 5xx, a timeout or an unreachable host; not
 *   retryable for a 4xx, a body over `maxBytes` or a refused private address.
 */
export async function fetchMedia(
  credentials: TwilioCredentials, url: string, maxBytes: number, options: TwilioRequestOptions,
): Promise<{ content: Buffer; contentType: string | null }> {
  const { timeoutMs } = options;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new UpstreamError(`media URL ${JSON.stringify(url)} is not a URL`, { retryable: false });
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new UpstreamError(`media URL ${url} is not HTTP`, { retryable: false });
  const sameOrigin = target.origin === new URL(credentials.baseUrl).origin;
  let res: Response;
  let content: Buffer;
  try {
    res = await outboundFetch(options, target, {
      headers: sameOrigin ? { authorization: basicAuth(credentials) } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw answerError(res.status, null, 'media');
    }
    content = await readBounded(res, maxBytes);
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    throw networkError(err, timeoutMs);
  }
  return { content, contentType: res.headers.get('content-type') };
}

/** Reads a response body, refusing one over `maxBytes`. */
async function readBounded(res: Response, maxBytes: number): Promise<Buffer> {
  const { body, complete } = await readAtMost(res, maxBytes);
  if (!complete) throw new UpstreamError(`the answer is over the limit of ${maxBytes} bytes`, { retryable: false, status: res.status });
  return body;
}

function parseJson<T>(text: string): T | null {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? value as T : null;
  } catch {
    return null;
  }
}

/** The UpstreamError of an HTTP answer that is not a success. */
function answerError(status: number, body: TwilioErrorBody | null, what = 'the request'): UpstreamError {
  const said = body?.code !== undefined || body?.message
    ? `: ${body.code !== undefined ? `error ${body.code}` : ''}${body.code !== undefined && body.message ? ' ' : ''}${body.message ?? ''}`
    : '';
  const message = `Twilio answered ${status} to ${what}${said}`;
  if (status === 401 || status === 403) {
    return new UpstreamError(`${message} (the account's credentials were refused)`, { retryable: false, status, accountStatus: 'error' });
  }
  return new UpstreamError(message, { retryable: status >= 500 || status === 429, status });
}

/** The UpstreamError of a request that got no answer (timeout, refused or reset connection, DNS). */
function networkError(err: unknown, timeoutMs: number): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const refusal = refusalOf(err);
  if (refusal) return new UpstreamError(`Twilio's URL is refused: ${refusal.message}`, { retryable: false, accountStatus: 'error' });
  return new UpstreamError(`Twilio could not be reached (${outboundFailure(err, timeoutMs)})`, { retryable: true });
}
