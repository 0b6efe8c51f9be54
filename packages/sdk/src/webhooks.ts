/**
 * Verifying the webhooks Switchboard sends, per Standard Webhooks
 * (https://www.standardwebhooks.com/): `webhook-signature` is an HMAC-SHA256 of
 * `webhook-id.webhook-timestamp.body` with the endpoint's `whsec_…` secret, and the
 * timestamp must be within five minutes of now. The `standardwebhooks` package does the
 * work (pure JavaScript: Node, Deno, browsers, edge runtimes).
 */
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { Event } from './types.js';

export { WebhookVerificationError };

/** The body of a webhook delivery: one timeline event. */
export interface WebhookPayload {
  /** The event's type (`message`, `read`, …), as on the timeline and the stream. */
  readonly type: Event['type'];
  /** When the event happened (RFC 3339). */
  readonly timestamp: string;
  readonly data: Event;
}

/** Request headers as a framework gives them: a `Headers`, or a plain object (Node's `IncomingHttpHeaders`). */
export type WebhookHeaders = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

function plainHeaders(headers: WebhookHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  const entries: Iterable<[string, string | readonly string[] | undefined]> = typeof (headers as Headers).forEach === 'function' && typeof (headers as Headers).get === 'function'
    ? (headers as Headers).entries()
    : Object.entries(headers as Record<string, string | readonly string[] | undefined>);
  for (const [name, value] of entries) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = typeof value === 'string' ? value : value.join(', ');
  }
  return out;
}

/**
 * Checks a webhook delivery and returns its payload.
 *
 * @param secret the endpoint's signing secret (`whsec_…`, shown once when it was created).
 * @param headers the request's headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
 * @param body the request body exactly as received (text or bytes), never re-serialized JSON.
 * @returns the parsed payload. Deduplicate by `webhook-id`: deliveries are at least once.
 * @throws WebhookVerificationError when a header is missing, the signature does not
 *   match the body, or the timestamp is more than five minutes from now.
 */
export function verifyWebhook(secret: string, headers: WebhookHeaders, body: string | Uint8Array): WebhookPayload {
  return new Webhook(secret).verify(body, plainHeaders(headers)) as WebhookPayload;
}
