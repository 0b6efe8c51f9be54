/**
 * Signing of the HTTP channel, both directions, per Standard Webhooks
 * (https://www.standardwebhooks.com/, "Verifying webhook authenticity"): headers
 * `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`), keyed with the account's
 * `whsec_…` secret (base64 after the prefix). The `standardwebhooks` package does the
 * cryptography and the 5-minute timestamp tolerance.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A fresh account secret: `whsec_` and 24 random bytes in base64. */
export function newHttpSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** Whether `value` is usable as a Standard Webhooks secret (`whsec_` + base64 of at least 16 bytes). */
export function isHttpSecret(value: unknown): value is string {
  if (typeof value !== 'string' || !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(value)) return false;
  return Buffer.from(value.slice('whsec_'.length), 'base64').length >= 16;
}

/**
 * The three headers that sign `body` (the exact bytes sent).
 *
 * @param id a unique id of this message (receivers may deduplicate on it).
 * @param at the signing time (wall clock: receivers compare it with theirs).
 */
export function signatureHeaders(secret: string, id: string, body: string, at: Date = new Date()): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}

/**
 * Whether `raw` (the body bytes as received) carries a valid signature in `headers` for
 * `secret`, with a timestamp within 5 minutes of now. Never throws.
 */
export function verifySignature(secret: string, headers: Record<string, string | string[] | undefined>, raw: Buffer): boolean {
  const one = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = one('webhook-id');
  const timestamp = one('webhook-timestamp');
  const signature = one('webhook-signature');
  if (!id || !timestamp || !signature) return false;
  try {
    new Webhook(secret).verify(raw, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }, { jsonParse: false });
    return true;
  } catch {
    return false;
  }
}
