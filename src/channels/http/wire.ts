/**
 * The HTTP channel's wire format (docs/channels.md, "HTTP channel"): what a provider
 * POSTs to `/v1/inbound/http/{account_id}`, and what we POST to the account's
 * `outbound_url`. Both directions are JSON signed per Standard Webhooks (signing.ts).
 */
import Type, { type Static } from 'typebox';

/** One attachment of an inbound message: fetched from `url`, or inline as base64 `data`. */
export const HttpInboundMedia = Type.Object({
  url: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 4096, description: 'fetched once, when the message arrives' })),
  data: Type.Optional(Type.String({ maxLength: 100_000_000, description: 'the bytes, base64' })),
  content_type: Type.String({ minLength: 3, maxLength: 200 }),
  filename: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])),
}, { additionalProperties: false, description: 'exactly one of `url` and `data`' });

/** A message from the counterpart. */
export const HttpInboundMessage = Type.Object({
  type: Type.Literal('message'),
  id: Type.String({ minLength: 1, maxLength: 500, description: 'the provider\'s id of the message: the dedup key, per account' }),
  from: Type.Object({
    address: Type.String({ minLength: 1, maxLength: 500, description: 'the counterpart\'s id on the provider (a LinkedIn profile URN, a user id, …)' }),
    name: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])),
  }, { additionalProperties: false }),
  text: Type.Union([Type.String({ maxLength: 1_000_000 }), Type.Null()]),
  sent_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  media: Type.Optional(Type.Array(HttpInboundMedia, { maxItems: 10 })),
}, { additionalProperties: false });

/** A delivery status of one of our outbound messages. */
export const HttpInboundStatus = Type.Object({
  type: Type.Literal('status'),
  message_id: Type.String({ minLength: 1, maxLength: 500, description: 'the provider\'s id of our message (the `id` it answered), or our `msg_…` id' }),
  status: Type.Union([Type.Literal('sent'), Type.Literal('delivered'), Type.Literal('read'), Type.Literal('failed')]),
  error: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
}, { additionalProperties: false });

/** The counterpart reacted to a message (either direction). */
export const HttpInboundReaction = Type.Object({
  type: Type.Literal('reaction'),
  message_id: Type.String({ minLength: 1, maxLength: 500, description: 'the provider\'s id of the message reacted to, or our `msg_…` id' }),
  reaction: Type.String({ minLength: 1, maxLength: 100, description: 'an emoji or a name (`like`, `love`, …)' }),
  removed: Type.Optional(Type.Boolean({ default: false })),
}, { additionalProperties: false });

/** Any inbound post, discriminated on `type`. */
export const HttpInbound = Type.Union([HttpInboundMessage, HttpInboundStatus, HttpInboundReaction], {
  description: 'signed per Standard Webhooks with the account\'s secret; discriminated on `type`',
});
export type HttpInbound = Static<typeof HttpInbound>;

/** Our answer to an inbound post, once it is committed. */
export const HttpInboundAck = Type.Object({
  received: Type.Literal(true),
  conversation_id: Type.Union([Type.String(), Type.Null()], { description: 'null when the post named a message we do not know' }),
  message_id: Type.Union([Type.String(), Type.Null()], { description: 'our `msg_…` id of the message (posted, or the one a status or reaction names)' }),
  duplicate: Type.Boolean({ description: 'a message id seen before: nothing new was stored' }),
});

/** What we POST to the account's `outbound_url` for each reply. */
export interface HttpOutboundMessage {
  readonly type: 'message';
  /** Our `msg_…` id: also the `webhook-id`, so a provider deduplicates a retried send by it. */
  readonly id: string;
  readonly conversation_id: string;
  /** The counterpart's address (what its inbound posts carried as `from.address`). */
  readonly to: string;
  /** The account's address. */
  readonly from: string;
  readonly text: string;
  /** Attachments as signed URLs that expire (GET /media/{id}?expires&signature). */
  readonly media: readonly { id: string; url: string; content_type: string; filename: string | null; size_bytes: number }[];
}

/** The provider's answer to a send: 2xx, optionally with its id for the message. */
export interface HttpOutboundAnswer {
  readonly id?: string;
}
