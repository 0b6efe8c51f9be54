/**
 * Twilio's webhooks, translated: the signature check (`X-Twilio-Signature`, checked with
 * the `twilio` package's `validateRequest`), the incoming-message request and the
 * message status callback, both `application/x-www-form-urlencoded` posts.
 *
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security
 * https://www.twilio.com/docs/messaging/guides/webhook-request (incoming message parameters)
 * https://www.twilio.com/docs/messaging/guides/track-outbound-message-status (status callbacks)
 */
import { validateRequest } from 'twilio/lib/webhooks/webhooks.js';
import { toE164 } from '../../domain/addresses.js';
import type { MessageStatus } from '../../domain/events.js';

/** A webhook's form fields as parsed (a repeated field is an array). */
export type TwilioParams = Record<string, string | string[] | undefined>;

/** The path of an account's webhook: `messages` (incoming messages) or `status` (status callbacks). */
export function twilioWebhookPath(accountId: string, kind: 'messages' | 'status'): string {
  return `/v1/inbound/twilio/${encodeURIComponent(accountId)}/${kind}`;
}

/**
 * Whether `signature` is Twilio's signature of this request: HMAC-SHA1 with the account's
 * auth token over the full URL Twilio called and the sorted form fields.
 *
 * @param url the URL as Twilio called it (scheme, host, path and query string).
 */
export function isTwilioSignatureValid(authToken: string, signature: string | undefined, url: string, params: TwilioParams): boolean {
  if (!signature) return false;
  try {
    return validateRequest(authToken, signature, url, params);
  } catch {
    // validateRequest parses the URL; a malformed Host header makes it throw.
    return false;
  }
}

/** The first value of a form field, trimmed; undefined when absent or empty. */
export function field(params: TwilioParams, name: string): string | undefined {
  const raw = params[name];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  return value ? value : undefined;
}

/**
 * A phone number as the core keeps it: E.164 when it is a valid number, else as Twilio
 * wrote it (short codes and alphanumeric sender ids are not E.164 numbers).
 */
export function twilioAddress(value: string): string {
  return toE164(value) ?? value;
}

/** One incoming message, as Twilio described it. */
export interface TwilioIncoming {
  /** `SM…` / `MM…`: the dedup key. */
  readonly messageSid: string;
  /** The sender, normalized ({@link twilioAddress}). */
  readonly from: string;
  /** The account's number the message was sent to, normalized. */
  readonly to: string;
  readonly body: string | null;
  /** `MediaUrl{N}` with `MediaContentType{N}`, N from 0 to `NumMedia - 1`. */
  readonly media: readonly { url: string; contentType: string | null }[];
}

/** Most media items Twilio attaches to one message. */
export const MAX_TWILIO_MEDIA = 10;

/**
 * Reads an incoming-message webhook.
 *
 * @returns the message, or a string naming the field that is missing.
 */
export function parseIncoming(params: TwilioParams): TwilioIncoming | string {
  const messageSid = field(params, 'MessageSid') ?? field(params, 'SmsSid');
  if (!messageSid) return 'MessageSid';
  const from = field(params, 'From');
  if (!from) return 'From';
  const to = field(params, 'To');
  if (!to) return 'To';
  const count = Math.min(Number.parseInt(field(params, 'NumMedia') ?? '0', 10) || 0, MAX_TWILIO_MEDIA);
  const media: { url: string; contentType: string | null }[] = [];
  for (let i = 0; i < count; i++) {
    const url = field(params, `MediaUrl${i}`);
    if (url) media.push({ url, contentType: field(params, `MediaContentType${i}`) ?? null });
  }
  const raw = params.Body;
  const body = Array.isArray(raw) ? raw[0] : raw;
  return { messageSid, from: twilioAddress(from), to: twilioAddress(to), body: body ? body : null, media };
}

/** Twilio's `MessageStatus` values mapped to ours; inbound-only ones (`receiving`, `received`) are absent. */
const STATUS: ReadonlyMap<string, MessageStatus> = new Map([
  ['accepted', 'queued'], ['scheduled', 'queued'], ['queued', 'queued'], ['sending', 'queued'],
  ['sent', 'sent'],
  ['delivered', 'delivered'],
  ['undelivered', 'failed'], ['failed', 'failed'], ['canceled', 'failed'],
  ['read', 'read'],
]);

/** One status callback, as Twilio described it. */
export interface TwilioStatus {
  readonly messageSid: string;
  /** Ours, or null for a Twilio status without a counterpart (the callback is then ignored). */
  readonly status: MessageStatus | null;
  /** `Twilio error {ErrorCode}` (with `ErrorMessage` when sent), or null. */
  readonly error: string | null;
}

/**
 * Reads a status callback.
 *
 * @returns the status, or a string naming the field that is missing.
 */
export function parseStatus(params: TwilioParams): TwilioStatus | string {
  const messageSid = field(params, 'MessageSid') ?? field(params, 'SmsSid');
  if (!messageSid) return 'MessageSid';
  const given = field(params, 'MessageStatus') ?? field(params, 'SmsStatus');
  if (!given) return 'MessageStatus';
  const code = field(params, 'ErrorCode');
  const message = field(params, 'ErrorMessage');
  const error = code ? `Twilio error ${code}${message ? `: ${message}` : ''}` : message ?? null;
  return { messageSid, status: STATUS.get(given.toLowerCase()) ?? null, error };
}

/** The answer Twilio gets: an empty TwiML document (no reply message, no action). */
export const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
