/**
 * When and how long to wait before retrying: exponential backoff with full jitter
 * (a random wait between 0 and `min(cap, base * 2^attempt)`, as in AWS's "Exponential
 * Backoff And Jitter"), or the server's `Retry-After` when it gives one.
 */
import type { SwitchboardError } from './errors.js';

/** First backoff ceiling, ms. */
export const BASE_DELAY_MS = 500;
/** Largest backoff ceiling, ms. */
export const MAX_DELAY_MS = 8_000;
/** Longest `Retry-After` the client waits out, ms; a longer one is thrown to the caller. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * A full-jitter backoff.
 *
 * @param attempt the attempt that failed, from 0.
 * @param random a number in [0, 1) (`Math.random` by default).
 * @returns ms to wait, in [0, min(MAX_DELAY_MS, BASE_DELAY_MS * 2^attempt)).
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt));
}

/**
 * A `Retry-After` header's wait (RFC 9110 section 10.2.3: delay-seconds or an HTTP date).
 *
 * @returns ms to wait, or null when the header is absent or unreadable.
 */
export function retryAfterMs(headers: Headers | null, now: number = Date.now()): number | null {
  const value = headers?.get('retry-after')?.trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * How long to wait before retrying after `error`, or null not to retry.
 *
 * @param error the failure of attempt `attempt` (from 0).
 * @param attempt how many attempts failed before this one.
 * @param maxRetries retries allowed after the first attempt.
 */
export function retryDelay(error: SwitchboardError, attempt: number, maxRetries: number): number | null {
  if (!error.retryable || attempt >= maxRetries) return null;
  const after = retryAfterMs(error.headers);
  if (after !== null) return after <= MAX_RETRY_AFTER_MS ? after : null;
  return backoffMs(attempt);
}

/**
 * Waits `ms`, or less when `signal` aborts.
 *
 * @throws the signal's reason when it aborts.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
