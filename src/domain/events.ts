/**
 * The timeline vocabulary (SPEC section 3): one set of event names and payload shapes,
 * used on the timeline, the change feed, the stream and webhooks.
 */

/** An email address with its display name, as it appeared in a header. */
export interface EmailAddress {
  readonly address: string;
  readonly name: string | null;
}

/** An attachment kept with a message; the bytes are served by the media endpoint. */
export interface MediaRef {
  readonly id: string;
  readonly filename: string | null;
  readonly content_type: string;
  /** Decoded size in bytes. */
  readonly size_bytes: number;
  readonly content_id: string | null;
  readonly disposition: string | null;
}

export type Direction = 'inbound' | 'outbound';
export type MessageStatus = 'queued' | 'deferred' | 'sent' | 'captured' | 'delivered' | 'read' | 'bounced' | 'failed';

/**
 * Order of delivery states: a status callback or report moves a message forward only
 * (queued → deferred → sent|captured → delivered|failed|bounced → read); one for an
 * earlier or equal state changes nothing.
 */
export const MESSAGE_STATUS_RANK: Readonly<Record<MessageStatus, number>> = {
  queued: 0, deferred: 1, sent: 2, captured: 2, delivered: 3, failed: 3, bounced: 3, read: 4,
};
/**
 * The channels (SPEC section 4): `email` (SMTP), `sms` (Twilio wire format), `imessage`
 * (a BlueBubbles server), and `linkedin` / `http` (the generic HTTP channel: a provider
 * that posts signed JSON in and takes JSON posts out).
 */
export type Channel = 'email' | 'sms' | 'imessage' | 'linkedin' | 'http';
export const CHANNELS: readonly Channel[] = ['email', 'sms', 'imessage', 'linkedin', 'http'];

/** RFC 5322 threading headers; ids without angle brackets. */
export interface EmailHeaders {
  readonly message_id: string | null;
  readonly in_reply_to: string | null;
  readonly references: string[];
}

/** Payload of a `message` event. */
export interface MessageData {
  /** `msg_…` id of the message. */
  readonly message_id: string;
  readonly direction: Direction;
  readonly channel: Channel;
  readonly account_id: string;
  readonly from: EmailAddress | null;
  readonly to: EmailAddress[];
  readonly cc: EmailAddress[];
  readonly reply_to: EmailAddress[];
  readonly subject: string | null;
  readonly text: string | null;
  readonly html: string | null;
  /** Preview of the new text, without the quoted reply; at most 200 characters. */
  readonly snippet: string;
  readonly media: MediaRef[];
  /** For email, the Message-ID (no angle brackets); the dedup key. */
  readonly provider_message_id: string | null;
  /** Status when the event was appended; the current one is on the message resource. */
  readonly status: MessageStatus;
  readonly headers: EmailHeaders;
  /** The Date header (RFC 3339), when it could be read. */
  readonly sent_at: string | null;
  /** Parts of the message that could not be read; the raw message is kept whole. */
  readonly parse_problems: string[];
  /** Outbound only: the no-reply timer this send armed (RFC 3339), when it asked for one. */
  readonly no_reply_at?: string | null;
  /** Email that arrived: SPF, DKIM, DMARC and ARC results (email/authentication.ts); null or absent when not checked (imports, older messages). */
  readonly authentication?: MessageAuthentication | null;
  /** It claims one of the organization's own addresses but fails DMARC alignment (the mailbox's `inbound_policy` is `flag`). */
  readonly spoofed?: boolean;
  /** An automatic message (RFC 3834 `Auto-Submitted`, `X-Autoreply`, `Precedence: auto_reply`, delivery reports). */
  readonly auto_submitted?: boolean;
  /** The plus-address tag the mail was sent to (`support+orders@…` → `orders`). */
  readonly address_tag?: string | null;
  /** An auto-reply that leaves a no-reply timer armed (the mailbox's `auto_replies_stop_no_reply` is off). */
  readonly keeps_no_reply?: boolean;
  /** `msg_…` id of a truncated copy of this message received before it: this complete copy replaces it. */
  readonly supersedes?: string;
}

/** SPF, DKIM, DMARC and ARC verdicts of an inbound email, each with the domain it speaks for. */
export interface MessageAuthentication {
  readonly spf: AuthCheck;
  readonly dkim: (AuthCheck & { readonly selector: string | null })[];
  readonly dmarc: AuthCheck & { readonly policy: string | null };
  readonly arc: { readonly result: string };
  /** The From domain aligns with a passing SPF or DKIM domain (relaxed, by organizational domain). */
  readonly aligned: boolean;
}

/** One check's verdict (`pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`, `policy`) and its domain. */
export interface AuthCheck {
  readonly result: string;
  readonly domain: string | null;
}

export interface MessageStatusData {
  readonly message_id: string;
  readonly status: MessageStatus;
  readonly error: string | null;
  /** For `bounced`: what the delivery report said, and the report itself as a media item (`GET /v1/media/{id}`). */
  readonly report?: BounceReport;
}

/** A bounce's delivery report (RFC 3464), as kept on `message_status: bounced`. */
export interface BounceReport {
  /** The recipient that could not be reached. */
  readonly recipient: string | null;
  /** Enhanced status code (RFC 3463), e.g. `5.1.1`. */
  readonly status: string | null;
  /** The remote server's reply, e.g. `550 5.1.1 User unknown`. */
  readonly diagnostic: string | null;
  /** `med_…` id of the report as received (message/rfc822). */
  readonly media_id: string;
}

export interface LabelData {
  readonly label: string;
}

export type EmptyData = Record<string, never>;

/** Payload of `no_reply_expired`: the timer armed by a send ran out without an inbound reply. */
export interface NoReplyExpiredData {
  /** From the send that armed the timer to now, ms. */
  readonly waited_ms: number;
  /** When the timer was due (RFC 3339). */
  readonly no_reply_at: string;
}

export type SlaTarget = 'first_response' | 'next_response';

/** Payload of `sla_breached`: an SLA target passed without an outbound reply. */
export interface SlaBreachedData {
  readonly target: SlaTarget;
  /** When the response was due (RFC 3339). */
  readonly due_at: string;
}

/** Who did something: the key used and, when the key acts as a member, that member. */
export interface Actor {
  /** `mem_…` id, or null for a key that acts as no member. */
  readonly member_id: string | null;
  readonly key_id: string;
}

/** Payload of `read`: the inbound messages marked read. */
export interface ReadData {
  /** How many unread messages this cleared (the unread count before). */
  readonly updated_count: number;
  readonly by: Actor;
}

/** Payload of `unread`: the conversation marked unread again (or its count overridden). */
export interface UnreadData {
  /** The unread count after the change. */
  readonly unread_count: number;
  readonly by: Actor;
}

export interface AssignedData {
  /** `mem_…` id, or null when unassigned. */
  readonly assigned_to: string | null;
  readonly by: Actor;
}

/** Payload of `note`: an internal note, never sent to the counterpart. */
export interface NoteData {
  readonly note_id: string;
  readonly text: string;
  readonly author: Actor;
}

/** Payload of `call`: a logged phone or video call, rendered inline with the messages. */
export interface CallData {
  readonly call_id: string;
  readonly direction: Direction;
  /** Seconds. */
  readonly duration_s: number;
  readonly summary: string | null;
  readonly transcript: string | null;
  readonly recording_url: string | null;
  /** When the call started (RFC 3339); the event's `at`. */
  readonly started_at: string;
  readonly logged_by: Actor;
}

/** Payload of `suggestion_created`: an AI-drafted reply awaiting a human. */
export interface SuggestionCreatedData {
  readonly suggestion_id: string;
  readonly text: string;
  /** Provenance: the model and agent that drafted it, when given. */
  readonly model: string | null;
  readonly agent: string | null;
}

/** Payload of `suggestion_sent`: the draft went out, maybe edited. */
export interface SuggestionSentData {
  readonly suggestion_id: string;
  /** The text that was sent. */
  readonly text: string;
  readonly edited: boolean;
  readonly message_id: string;
  readonly by: Actor;
}

export interface SuggestionDismissedData {
  readonly suggestion_id: string;
  readonly by: Actor;
}

/**
 * Payload of `reaction`: a tapback or reaction on a message, given (outbound, through
 * `POST …/reactions`) or received (inbound, from the channel).
 */
export interface ReactionData {
  /** `msg_…` id of the message reacted to. */
  readonly message_id: string;
  /** `love`, `like`, `dislike`, `laugh`, `emphasize`, `question` (iMessage tapbacks), or an emoji. */
  readonly reaction: string;
  /** True when the reaction was taken back. */
  readonly removed: boolean;
  readonly direction: Direction;
  /** Who reacted, for outbound reactions. */
  readonly by: Actor | null;
}

/** Payload of `connection_activated` / `connection_released`: a router connection on a shared line changed. */
export interface ConnectionData {
  /** `conn_…` id. */
  readonly connection_id: string;
  /** The shared line's account. */
  readonly account_id: string;
  /** The person's address on the line (E.164 for SMS). */
  readonly counterpart: string;
  /** Why it was released (`stop`: the person texted STOP; `api`: `POST …/release`); null on activation. */
  readonly reason: 'stop' | 'api' | null;
  readonly by: Actor | null;
}

/**
 * Payload of `merged`: this conversation and `into` turned out to be one (threading found
 * a message linking them, or a person merged them). The last event of the merged
 * conversation; its timeline, summary and everything attached to it now belong to
 * `into`, the older of the two (docs/api.md, "Merged conversations").
 */
export interface MergedData {
  /** `conv_…` id of the conversation this one became part of (at the time of the merge). */
  readonly into: string;
  /** `threading`: a message linked the two; `manual`: `POST /v1/conversations/{id}/merge`. */
  readonly reason: 'threading' | 'manual';
  /** Who merged them, for a manual merge; null for threading. */
  readonly by: Actor | null;
}

/** The event union, discriminated on `type`. */
export type EventBody =
  | { readonly type: 'message'; readonly data: MessageData }
  | { readonly type: 'message_status'; readonly data: MessageStatusData }
  | { readonly type: 'label_added'; readonly data: LabelData }
  | { readonly type: 'label_removed'; readonly data: LabelData }
  | { readonly type: 'archived'; readonly data: EmptyData }
  | { readonly type: 'unarchived'; readonly data: EmptyData }
  | { readonly type: 'no_reply_expired'; readonly data: NoReplyExpiredData }
  | { readonly type: 'sla_breached'; readonly data: SlaBreachedData }
  | { readonly type: 'read'; readonly data: ReadData }
  | { readonly type: 'unread'; readonly data: UnreadData }
  | { readonly type: 'starred'; readonly data: { readonly by: Actor } }
  | { readonly type: 'unstarred'; readonly data: { readonly by: Actor } }
  | { readonly type: 'assigned'; readonly data: AssignedData }
  | { readonly type: 'note'; readonly data: NoteData }
  | { readonly type: 'call'; readonly data: CallData }
  | { readonly type: 'suggestion_created'; readonly data: SuggestionCreatedData }
  | { readonly type: 'suggestion_sent'; readonly data: SuggestionSentData }
  | { readonly type: 'suggestion_dismissed'; readonly data: SuggestionDismissedData }
  | { readonly type: 'reaction'; readonly data: ReactionData }
  | { readonly type: 'connection_activated'; readonly data: ConnectionData }
  | { readonly type: 'connection_released'; readonly data: ConnectionData }
  | { readonly type: 'merged'; readonly data: MergedData };

export type EventType = EventBody['type'];

export const EVENT_TYPES: readonly EventType[] = [
  'message', 'message_status', 'label_added', 'label_removed', 'archived', 'unarchived', 'no_reply_expired', 'sla_breached',
  'read', 'unread', 'starred', 'unstarred', 'assigned', 'note', 'call', 'suggestion_created', 'suggestion_sent', 'suggestion_dismissed',
  'reaction', 'connection_activated', 'connection_released', 'merged',
];

/** A committed timeline entry. */
export type TimelineEvent = EventBody & {
  /** `evt_…` id. */
  readonly id: string;
  /** Org-wide, monotonically increasing commit sequence. */
  readonly seq: number;
  readonly conversation_id: string;
  /** When it happened (RFC 3339); for imported mail, the message's Date. */
  readonly at: string;
};
