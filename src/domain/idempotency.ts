/**
 * How long an `Idempotency-Key` is remembered (SPEC section 5: 24 hours), ms: a retry
 * within it gets the first answer (api/idempotency.ts) or, for a channel send that failed
 * with a 502, sends that same message again (services/send-channel.ts).
 */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
