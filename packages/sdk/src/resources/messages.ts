/**
 * Messages (`sb.messages`): the first send to someone, one message, its raw MIME, and
 * the outbound email queue.
 */
import { keysetPaginator, type Paginator } from '../pagination.js';
import type { BodyOf, Message, OutboundEntry, Page, QueryOf, RequestOptions, ResultOf, SendResult } from '../types.js';
import { Resource } from './resource.js';

export class Messages extends Resource {
  /**
   * Sends a first message (`identity_id`, `channel`, `to`, `subject`, `text`, …): opens a
   * conversation. Safe to retry: the call's Idempotency-Key is reused.
   *
   * @throws UnprocessableEntityError `no_sender`, PermissionDeniedError `recipient_blocked`, ServerError `upstream_failed`.
   */
  send(body: BodyOf<'sendMessage'>, options?: RequestOptions): Promise<SendResult> {
    return this.write((init) => this.api.POST('/v1/messages', { body, ...init }), options);
  }

  /** One message. @throws NotFoundError */
  get(id: string, options?: RequestOptions): Promise<Message> {
    return this.read((init) => this.api.GET('/v1/messages/{id}', { params: { path: { id } }, ...init }), options);
  }

  /** The raw RFC 5322 message of an email, as text. @throws NotFoundError */
  raw(id: string, options?: RequestOptions): Promise<string> {
    return this.read((init) => this.api.GET('/v1/messages/{id}/raw', { params: { path: { id } }, parseAs: 'text', ...init }), options) as Promise<string>;
  }

  /** Tries a deferred or failed email again now. @throws ConflictError `message_not_retryable` */
  retry(id: string, options?: RequestOptions): Promise<ResultOf<'retryMessage'>> {
    return this.write((init) => this.api.POST('/v1/messages/{id}/retry', { params: { path: { id } }, ...init }), options);
  }

  /** The outbound email queue: messages waiting for their relay (`status: 'deferred'`), or given up. */
  outbound(params: QueryOf<'listOutbound'> = {}, options?: RequestOptions): Paginator<OutboundEntry, Page<OutboundEntry>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/outbound', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }
}
