/**
 * What a channel adapter does (SPEC section 4): it only translates between a provider's
 * wire format and the core's calls. Inbound, an adapter's route checks the provider's
 * signature, turns the provider's payload into an {@link InboundMessage} (or a status,
 * reaction, read or typing update) and hands it to services/ingest-channel.ts; threading,
 * dedup, contact rules, routing and projections stay there. Outbound, the core commits
 * the message first and then calls the adapter's {@link ChannelAdapter.send}.
 */
import type { Channel } from '../domain/events.js';
import type { AccountRow } from '../store/identities.js';

/** An attachment handed to an adapter for sending: its bytes, and a URL the provider may fetch it from. */
export interface OutboundMedia {
  /** `med_…` id. */
  readonly id: string;
  readonly filename: string | null;
  readonly content_type: string;
  /** Size, bytes. */
  readonly size_bytes: number;
  /** Reads the bytes (from the media storage). */
  readonly read: () => Promise<Buffer>;
}

/** One outbound message, committed (`queued`) before the adapter sees it. */
export interface OutboundMessage {
  readonly account: AccountRow;
  /** `msg_…` id of the committed message (adapters may pass it as the provider's idempotency or client reference). */
  readonly messageId: string;
  readonly conversationId: string;
  /** The counterpart's address on the channel (E.164 for SMS, a handle, email or E.164 for iMessage, a provider id for HTTP). */
  readonly to: string;
  readonly text: string;
  readonly media: readonly OutboundMedia[];
}

/** What the provider said to a send. */
export interface SendOutcome {
  /** The provider's id for the message (Twilio MessageSid, BlueBubbles guid, …), or null when it gave none. */
  readonly providerMessageId: string | null;
  /** `sent` when the provider accepted it; `queued` when it only queued it (a later status callback tells). */
  readonly status: 'queued' | 'sent';
  /**
   * The provider's ids of the message's other parts, when the channel sends one message as
   * several (iMessage: each attachment is a message of its own); status updates, echoes
   * and reactions naming them find the same message.
   */
  readonly partIds?: readonly string[];
}

/** A reaction (tapback) to pass to the channel. */
export interface OutboundReaction {
  readonly account: AccountRow;
  readonly to: string;
  /** The provider's id of the message reacted to. */
  readonly providerMessageId: string;
  readonly reaction: string;
  readonly removed: boolean;
}

/** How an account's health changes after a provider's answer (SPEC section 2, channel account). */
export type AccountHealth = 'connected' | 'active' | 'warming' | 'disconnected' | 'error';

/**
 * A provider call failed. `retryable` failures (a 5xx, a timeout, a refused connection)
 * become 502 `upstream_failed` with `retryable: true` and never change the account's
 * health: a transient failure is not a disconnection, and a retry with the same
 * Idempotency-Key must find the account still able to send. `accountStatus`, when set,
 * is written to the account; only a definite answer sets it (the provider refused the
 * credentials, or the account's settings cannot work: `error`).
 */
export class UpstreamError extends Error {
  readonly retryable: boolean;
  /** The provider's HTTP status, when it answered. */
  readonly status: number | null;
  readonly accountStatus: AccountHealth | null;

  constructor(message: string, options: { retryable: boolean; status?: number | null; accountStatus?: AccountHealth | null }) {
    super(message);
    this.name = 'UpstreamError';
    this.retryable = options.retryable;
    this.status = options.status ?? null;
    this.accountStatus = options.accountStatus ?? null;
  }
}

/**
 * One channel's outbound side. Every method throws {@link UpstreamError} when the
 * provider fails; the optional ones are absent on channels without the feature (the
 * core then records the event without telling the channel).
 */
export interface ChannelAdapter {
  readonly channel: Channel;
  /** Whether outbound messages may carry media. */
  readonly supportsMedia: boolean;
  /** The reactions {@link ChannelAdapter.react} takes (iMessage: the six tapbacks); absent: any reaction text. */
  readonly reactions?: readonly string[];
  send(message: OutboundMessage): Promise<SendOutcome>;
  /** Sends a tapback / reaction. */
  react?(reaction: OutboundReaction): Promise<void>;
  /** Sends a read receipt for the conversation with `to`. */
  markRead?(account: AccountRow, to: string): Promise<void>;
  /** Starts or stops the typing indicator in the conversation with `to`. */
  typing?(account: AccountRow, to: string, state: 'started' | 'stopped'): Promise<void>;
}

/** The account statuses a send may go through (SPEC: `connected`, `active`, `warming`); the others refuse with 409 `sender_disconnected`. */
export const HEALTHY_STATUSES: readonly AccountHealth[] = ['connected', 'active', 'warming'];
