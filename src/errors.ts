/**
 * The closed list of error codes (SPEC section 5), each mapped once to its HTTP status,
 * title and default `fix`. Domain commands throw {@link AppError}; the API renders it as
 * RFC 9457 problem details. `docs/errors.md` lists the same codes (a test keeps them in
 * step).
 */

export const ERROR_CODES = {
  validation_failed: { status: 400, title: 'Validation failed', fix: 'Correct the named parameter and send the request again.' },
  no_valid_fields: { status: 400, title: 'Nothing to change', fix: 'Send at least one of the fields this endpoint updates.' },
  unauthenticated: { status: 401, title: 'Unauthenticated', fix: 'Send a valid API key as `Authorization: Bearer <key>`.' },
  invalid_signature: { status: 401, title: 'Invalid signature', fix: 'A provider webhook must prove the channel account\'s secret: for the HTTP channel, sign per Standard Webhooks (webhook-id, webhook-timestamp within 5 minutes, webhook-signature: HMAC-SHA256 of `id.timestamp.body` with the account\'s `whsec_` secret) and send the body byte for byte as signed; for BlueBubbles, put the account\'s `webhook_token` in the webhook URL (`?token=`); for Twilio, check the account\'s `auth_token` and that PUBLIC_URL is the URL Twilio calls (X-Twilio-Signature signs it). Nothing was stored.' },
  forbidden_identity: { status: 403, title: 'Forbidden identity', fix: 'This key is scoped to one identity: leave `identity_id` out or use that identity\'s id.' },
  csrf_failed: { status: 403, title: 'CSRF token missing or wrong', fix: 'A request signed in by the session cookie that changes something must carry the session\'s `csrf_token` (GET /v1/auth/session) in the `X-CSRF-Token` header; API clients send an API key instead.' },
  missing_permission: { status: 403, title: 'Missing permission', fix: 'Use a key that holds the named permission (an owner or admin can create one).' },
  media_url_invalid: { status: 403, title: 'Media URL invalid', fix: 'The media URL is expired or was altered; ask for a fresh one (the next send carries a new URL), or download with an API key (GET /v1/media/{id}).' },
  recipient_blocked: { status: 403, title: 'Recipient blocked', fix: 'A contact rule blocks this recipient; remove the rule (DELETE /v1/contact_rules/{id}) if the block is a mistake.' },
  not_found: { status: 404, title: 'Not found', fix: 'Check the id; list the collection to find the right one.' },
  method_not_allowed: { status: 405, title: 'Method not allowed', fix: 'Use one of the methods in the Allow header; GET /openapi.json lists each path\'s operations.' },
  cursor_ahead: { status: 409, title: 'Cursor ahead of the feed', fix: 'The cursor is beyond the organization\'s latest event: the store was reset or restored, or the cursor belongs to another server or organization. Restart from after=0 (everything) or from the latest seq (GET /v1/events?after=0 pages to it), and drop what you kept from the old cursor.' },
  idempotency_conflict: { status: 409, title: 'Idempotency key reused', fix: 'Use a new Idempotency-Key for a different request, or resend the identical body.' },
  address_in_use: { status: 409, title: 'Address already in use', fix: 'Choose another address; each mailbox address is routed to one mailbox.' },
  routing_code_in_use: { status: 409, title: 'Routing code already in use', fix: 'Choose another routing code; each is unique in an organization (GET /v1/identities shows the codes in use).' },
  handle_in_use: { status: 409, title: 'Handle already in use', fix: 'Choose another handle; handles are unique in an organization.' },
  email_in_use: { status: 409, title: 'Email already in use', fix: 'Each member of an organization has their own email; choose another or update the existing member.' },
  last_owner: { status: 409, title: 'Last owner', fix: 'Make another member an owner first; an organization keeps at least one owner.' },
  suggestion_not_pending: { status: 409, title: 'Suggestion not pending', fix: 'Only a pending suggestion can be sent or dismissed; list the conversation\'s suggestions (GET /v1/conversations/{id}/suggestions?status=pending) for the current one, or reply with POST /v1/conversations/{id}/messages.' },
  view_builtin: { status: 409, title: 'Built-in view', fix: 'Built-in views (view_unread, view_recents, view_starred, view_all) cannot be changed or deleted; save a view of your own (POST /v1/views) instead.' },
  view_limit_reached: { status: 409, title: 'Too many views', fix: 'Delete a saved view you no longer use (DELETE /v1/views/{id}) before saving another.' },
  public_url_required: { status: 409, title: 'Public URL not configured', fix: 'Set PUBLIC_URL to the address people reach this server at, so that e-mailed sign-in links point at it (`switchboard login-link` prints a link without it).' },
  message_not_retryable: { status: 409, title: 'Message not retryable', fix: 'Only an email waiting in the outbound queue (`deferred`) or given up (`failed`) can be retried; GET /v1/outbound lists them. A sent or captured message needs no retry; a channel message is retried by repeating its send with the same Idempotency-Key.' },
  connection_released: { status: 409, title: 'Connection released', fix: 'The person released this shared-line connection (texted STOP, or it was released); they reconnect by texting the identity\'s routing code. Do not retry.' },
  sender_disconnected: { status: 409, title: 'Sender disconnected', fix: 'The sending account is not healthy (GET /v1/channel_accounts/{id} shows its `status` and `status_reason`); reconnect it at the provider and set its status back (PATCH /v1/channel_accounts/{id}), then send again (the same Idempotency-Key may be reused).' },
  payload_too_large: { status: 413, title: 'Payload too large', fix: 'Send a smaller message or raise the configured limit.' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type', fix: 'Send JSON with `Content-Type: application/json` (raw mail as `message/rfc822`).' },
  not_a_member: { status: 422, title: 'Not a member', fix: 'Assign to a member of this organization (GET /v1/members), or null to unassign.' },
  spoofed_sender: { status: 422, title: 'Spoofed sender', fix: 'The message claims an address of this organization (or of a domain whose DMARC policy is reject) but fails DMARC alignment, and the mailbox refuses such mail (`inbound_policy: reject`). Sign it with DKIM for the From domain or send it from an IP that domain\'s SPF record allows, pass the real `client_ip`, or set the mailbox\'s `inbound_policy` to `flag`.' },
  identity_mismatch: { status: 422, title: 'Identity mismatch', fix: 'Merge only conversations of one identity (`identity_id` of both must be the same); conversations of different identities stay apart.' },
  unknown_recipient: { status: 422, title: 'Unknown recipient', fix: 'Create a mailbox for the address first, or name one with the `to` parameter.' },
  webhook_target_refused: { status: 422, title: 'Webhook target refused', fix: 'Point the endpoint at a receiver other than this server\'s own HTTP or SMTP listener.' },
  no_sender: { status: 422, title: 'No sending account', fix: 'Add a mailbox (POST /v1/mailboxes) or an account on the channel (POST /v1/channel_accounts) to the identity before sending.' },
  no_recipient: { status: 422, title: 'No recipient address', fix: 'Add an address on the channel to the contact (PATCH /v1/contacts/{id} with `addresses`) first.' },
  rate_limited: { status: 429, title: 'Rate limited', fix: 'Wait for the Retry-After delay (seconds), then send the request again.' },
  internal_error: { status: 500, title: 'Internal error', fix: 'Retry later; if it persists, report it with the request id.' },
  upstream_failed: { status: 502, title: 'Upstream failed', fix: 'The channel provider failed; retry with the same Idempotency-Key.' },
  not_ready: { status: 503, title: 'Not ready', fix: 'Wait until the server has started its listeners.' },
} as const satisfies Record<string, { status: number; title: string; fix: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AppErrorOptions {
  /** The parameter at fault (a body field, query parameter or header). */
  readonly param?: string;
  /** A more specific fix than the code's default. */
  readonly fix?: string;
  readonly retryable?: boolean;
  readonly cause?: unknown;
  /** Every problem of a `validation_failed` request (at most {@link MAX_LISTED_ERRORS}). */
  readonly errors?: readonly FieldProblem[];
}

/** One problem of an invalid request: the field, query parameter or header, and why. */
export interface FieldProblem {
  readonly param: string;
  readonly detail: string;
}

/** The most `errors` one problem lists. */
export const MAX_LISTED_ERRORS = 20;

/** An error with a stable code; the only kind of error domain code throws on purpose. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | undefined;
  readonly fix: string;
  readonly retryable: boolean;
  readonly errors: readonly FieldProblem[] | undefined;

  constructor(code: ErrorCode, detail: string, options: AppErrorOptions = {}) {
    super(detail, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.param = options.param;
    this.fix = options.fix ?? ERROR_CODES[code].fix;
    this.retryable = options.retryable ?? (code === 'upstream_failed' || code === 'not_ready');
    this.errors = options.errors?.slice(0, MAX_LISTED_ERRORS);
  }
}

/** The 404 every lookup returns for missing, malformed or foreign ids alike. */
export function notFound(what: string): AppError {
  return new AppError('not_found', `No ${what} with that id.`);
}

/** RFC 9457 problem details body. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: string;
  readonly fix: string;
  readonly param: string | null;
  readonly retryable: boolean;
  /** `validation_failed` only: every problem found (the first {@link MAX_LISTED_ERRORS}). */
  readonly errors?: readonly FieldProblem[];
}

/**
 * Renders an {@link AppError} as problem details. A `validation_failed` problem always
 * lists `errors` (its own `param` and `detail` when the error named no others).
 */
export function toProblem(err: AppError): Problem {
  const errors = err.errors ?? (err.code === 'validation_failed' ? [{ param: err.param ?? 'request', detail: err.message }] : undefined);
  return {
    type: `urn:switchboard:error:${err.code}`,
    title: ERROR_CODES[err.code].title,
    status: err.status,
    code: err.code,
    detail: err.message,
    fix: err.fix,
    param: err.param ?? null,
    retryable: err.retryable,
    ...(errors ? { errors } : {}),
  };
}
