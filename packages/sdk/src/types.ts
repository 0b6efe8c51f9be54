/**
 * Names for the shapes of the API, all taken from the types `openapi-typescript`
 * generates from the server's OpenAPI document (src/generated/openapi.ts): nothing here
 * restates a field the document defines.
 */
import type { components, operations } from './generated/openapi.js';

/** Every schema of the document's `components`. */
export type Schemas = components['schemas'];

/** An operation's name (its `operationId`). */
export type OperationId = keyof operations;

/** The query parameters of an operation (an empty object when it takes none). */
export type QueryOf<K extends OperationId> = operations[K]['parameters'] extends { query?: infer Q }
  ? [Q] extends [never | undefined] ? Record<string, never> : NonNullable<Q>
  : Record<string, never>;

/** The JSON body of an operation. */
export type BodyOf<K extends OperationId> = operations[K] extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

type SuccessStatus = 200 | 201 | 202;
/** The JSON answer of an operation's success (200, 201 or 202). */
export type ResultOf<K extends OperationId> = {
  [S in SuccessStatus & keyof operations[K]['responses']]: operations[K]['responses'][S] extends { content: { 'application/json': infer R } } ? R : never
}[SuccessStatus & keyof operations[K]['responses']];

/** RFC 9457 problem details, as every error answer carries them. */
export type Problem = Schemas['Problem'];
/** The stable, machine-readable error codes of the API. */
export type ProblemCode = Problem['code'];
/** One problem of an invalid request (`validation_failed`). */
export type FieldProblem = NonNullable<Problem['errors']>[number];

export type Conversation = Schemas['Conversation'];
export type ConversationSnapshot = ResultOf<'getConversation'>;
/** A timeline event, as the change feed, the stream and webhooks carry it. */
export type Event = Schemas['Event'];
/** The type names of timeline events. */
export type EventType = Event['type'];
export type Message = Schemas['Message'];
export type Identity = Schemas['Identity'];
export type Mailbox = Schemas['Mailbox'];
export type ChannelAccount = Schemas['ChannelAccount'];
export type Connection = Schemas['Connection'];
export type Contact = Schemas['Contact'];
export type ContactRule = Schemas['ContactRule'];
export type Member = Schemas['Member'];
export type ApiKey = Schemas['ApiKey'];
export type View = Schemas['View'];
export type Suggestion = Schemas['Suggestion'];
export type WebhookEndpoint = Schemas['WebhookEndpoint'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
export type OutboundEntry = Schemas['OutboundEntry'];
/** The answer of a send (`messages.send`, `conversations.reply`): the conversation and the message. */
export type SendResult = ResultOf<'sendMessage'>;
/** A typing indicator, as `events.stream` yields it when asked for `typing`. */
export type TypingSignal = ResultOf<'sendTyping'>;
/** An uploaded attachment (`media.upload`). */
export type Upload = ResultOf<'uploadMedia'>;

/** One page of a keyset-paged list. */
export interface Page<T> {
  readonly data: T[];
  /** Pass back as `cursor` for the next page; null at the end. */
  readonly next_cursor: string | null;
  readonly has_more: boolean;
}

/** Options every call takes. */
export interface RequestOptions {
  /** Cancels the call (and its retries). */
  readonly signal?: AbortSignal;
  /** Per-attempt timeout, ms; the client's `timeoutMs` by default. */
  readonly timeoutMs?: number;
  /** Retries after the first attempt; the client's `maxRetries` by default. */
  readonly maxRetries?: number;
  /**
   * The `Idempotency-Key` of a write; a random UUID by default. The same key is sent on
   * every retry of the call, so the server carries the write out once.
   */
  readonly idempotencyKey?: string;
}
