/**
 * `@switchboard/sdk`: the TypeScript client of the Switchboard API (fetch only: Node
 * 20+, Deno, browsers). See README.md.
 */
export { Switchboard, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MS, type SwitchboardConfig } from './client.js';
export {
  SwitchboardError, BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError, ConflictError,
  UnprocessableEntityError, RateLimitError, ServerError, ConnectionError,
  type SwitchboardErrorCode, type ClientErrorCode,
} from './errors.js';
export { Paginator } from './pagination.js';
export type { StreamItem, StreamOptions } from './event-stream.js';
export type { FeedPage } from './resources/events.js';
export { verifyWebhook, WebhookVerificationError, type WebhookPayload, type WebhookHeaders } from './webhooks.js';
export type * from './types.js';
export type { paths, components, operations } from './generated/openapi.js';
