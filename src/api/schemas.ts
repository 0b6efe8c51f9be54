/**
 * Request and response schemas (TypeBox / JSON Schema). One schema per shape: it
 * validates requests, serializes responses and generates `GET /openapi.json`.
 */
import Type, { type Static, type TSchema } from 'typebox';
import { EVENT_TYPES, type EventType as EventTypeName } from '../domain/events.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';

/** `T` or null. */
export const Nullable = <T extends TSchema>(t: T, options: { description?: string } = {}) => Type.Union([t, Type.Null()], options);
const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC' });
const Id = (prefix: string) => Type.String({ description: `\`${prefix}_…\` id`, examples: [`${prefix}_01h455vb4pex5vsknk084sn02q`] });

export const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  code: Type.Unsafe<ErrorCode>({ type: 'string', enum: Object.keys(ERROR_CODES) }),
  detail: Type.String(),
  fix: Type.String(),
  param: Nullable(Type.String()),
  retryable: Type.Boolean(),
  errors: Type.Optional(Type.Array(Type.Object({
    param: Type.String({ description: 'the field (dotted path), query parameter or header at fault' }),
    detail: Type.String(),
  }), { maxItems: 20, description: '`validation_failed` only: every problem of the request, in order (at most 20; `detail` says how many in all)' })),
}, { $id: 'Problem', description: 'RFC 9457 problem details' });

export const Page = <T extends TSchema>(item: T) => Type.Object({
  data: Type.Array(item),
  next_cursor: Nullable(Type.String()),
  has_more: Type.Boolean(),
});

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
};

export const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });

export const EmailAddress = Type.Object({ address: Type.String(), name: Nullable(Type.String()) });

export const MediaRef = Type.Object({
  id: Id('med'),
  filename: Nullable(Type.String()),
  content_type: Type.String(),
  size_bytes: Type.Integer({ description: 'bytes' }),
  content_id: Nullable(Type.String()),
  disposition: Nullable(Type.String()),
});

/** The channels (domain/events.ts `Channel`). */
export const ChannelName = Type.Union([
  Type.Literal('email'), Type.Literal('sms'), Type.Literal('imessage'), Type.Literal('linkedin'), Type.Literal('http'),
], { description: 'email, sms, imessage, linkedin or http' });

const MessageStatus = Type.Union([
  Type.Literal('queued'), Type.Literal('deferred'), Type.Literal('sent'), Type.Literal('captured'), Type.Literal('delivered'),
  Type.Literal('read'), Type.Literal('bounced'), Type.Literal('failed'),
], { description: '`queued` (committed, not yet handed on), `deferred` (the relay or provider failed for now; retried), `sent` (accepted by the relay or provider), `captured` (kept in the store only: the mailbox has no relay), `delivered`, `read`, `bounced` (a delivery report came back), `failed`' });

const AuthCheck = Type.Object({
  result: Type.String({ description: '`pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror` or `policy`' }),
  domain: Nullable(Type.String()),
});

/** SPF, DKIM, DMARC and ARC results of an inbound email (email/authentication.ts). */
export const MessageAuthentication = Type.Object({
  spf: AuthCheck,
  dkim: Type.Array(Type.Object({ ...AuthCheck.properties, selector: Nullable(Type.String()) }), { description: 'one entry per signature' }),
  dmarc: Type.Object({ ...AuthCheck.properties, policy: Nullable(Type.String({ description: 'the From domain\'s published policy: none, quarantine or reject' })) }),
  arc: Type.Object({ result: Type.String() }),
  aligned: Type.Boolean({ description: 'the From domain aligns with a passing SPF or DKIM domain (DMARC\'s test, relaxed)' }),
}, { $id: 'MessageAuthentication' });
const Direction = Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]);

export const EmailHeaders = Type.Object({
  message_id: Nullable(Type.String({ description: 'Message-ID without angle brackets' })),
  in_reply_to: Nullable(Type.String()),
  references: Type.Array(Type.String(), { description: 'References ids, oldest first' }),
});

const MessageFields = {
  direction: Direction,
  channel: ChannelName,
  account_id: Id('acct'),
  from: Nullable(EmailAddress),
  to: Type.Array(EmailAddress),
  cc: Type.Array(EmailAddress),
  reply_to: Type.Array(EmailAddress),
  subject: Nullable(Type.String()),
  text: Nullable(Type.String()),
  html: Nullable(Type.String()),
  snippet: Type.String({ description: 'preview without the quoted reply, at most 200 characters' }),
  media: Type.Array(MediaRef),
  provider_message_id: Nullable(Type.String()),
  status: MessageStatus,
  headers: EmailHeaders,
  sent_at: Nullable(Timestamp),
  parse_problems: Type.Array(Type.String()),
  authentication: Type.Optional(Nullable(MessageAuthentication, { description: 'inbound email that arrived over SMTP or the inbound route; absent or null when not checked (imports)' })),
  spoofed: Type.Optional(Type.Boolean({ description: 'claims one of this organization\'s own addresses but fails DMARC alignment' })),
  auto_submitted: Type.Optional(Type.Boolean({ description: 'an automatic message (Auto-Submitted, X-Autoreply, Precedence: auto_reply, a delivery report)' })),
  address_tag: Type.Optional(Nullable(Type.String({ description: 'the plus-address tag it was sent to: `orders` for support+orders@…' }))),
  keeps_no_reply: Type.Optional(Type.Boolean({ description: 'an auto-reply that leaves the no-reply timer armed' })),
  supersedes: Type.Optional(Type.String({ description: '`msg_…` id of a truncated copy received before this complete one, which replaces it' })),
};

export const MessageData = Type.Object({
  message_id: Id('msg'), ...MessageFields,
  no_reply_at: Type.Optional(Nullable(Timestamp)),
});

export const Message = Type.Object({
  type: Type.Literal('message'),
  id: Id('msg'),
  conversation_id: Id('conv'),
  at: Timestamp,
  error: Nullable(Type.String()),
  ...MessageFields,
}, { $id: 'Message' });

export const SlaTarget = Type.Union([Type.Literal('first_response'), Type.Literal('next_response')]);

export const Actor = Type.Object({
  member_id: Nullable(Id('mem'), { description: 'the member the key acts as, or null' }),
  key_id: Id('key'),
}, { description: 'who did it' });
const ActorBy = Type.Object({ by: Actor });

export const CallDirection = Direction;

const ConnectionData = Type.Object({
  connection_id: Id('conn'), account_id: Id('acct'), counterpart: Type.String({ description: 'the person on the shared line (E.164 for SMS)' }),
  reason: Nullable(Type.Union([Type.Literal('stop'), Type.Literal('api')]), { description: 'why it was released (`stop`: they texted STOP); null on activation' }),
  by: Nullable(Actor),
});

const EventBase = { id: Id('evt'), seq: Type.Integer(), conversation_id: Id('conv'), at: Timestamp };
/** A `reaction` event: a tapback or reaction given (outbound, `POST …/reactions`) or received from the channel (inbound). */
export const ReactionEvent = Type.Object({ ...EventBase, type: Type.Literal('reaction'), data: Type.Object({
  message_id: Id('msg'), reaction: Type.String({ description: 'a tapback (`love`, `like`, `dislike`, `laugh`, `emphasize`, `question`) or an emoji' }),
  removed: Type.Boolean({ description: 'the reaction was taken back' }), direction: Direction,
  by: Nullable(Actor, { description: 'who reacted, for outbound reactions; null for the counterpart\'s' }),
}) });
export const Event = Type.Union([
  Type.Object({ ...EventBase, type: Type.Literal('message'), data: MessageData }),
  Type.Object({ ...EventBase, type: Type.Literal('message_status'), data: Type.Object({
    message_id: Id('msg'), status: MessageStatus, error: Nullable(Type.String()),
    report: Type.Optional(Type.Object({
      recipient: Nullable(Type.String()), status: Nullable(Type.String({ description: 'enhanced status code, e.g. 5.1.1' })),
      diagnostic: Nullable(Type.String({ description: 'the remote server\'s reply' })),
      media_id: Id('med'),
    }, { description: 'for `bounced`: the delivery report; the report as received is the media item `media_id`' })),
  }) }),
  Type.Object({ ...EventBase, type: Type.Literal('label_added'), data: Type.Object({ label: Type.String() }) }),
  Type.Object({ ...EventBase, type: Type.Literal('label_removed'), data: Type.Object({ label: Type.String() }) }),
  Type.Object({ ...EventBase, type: Type.Literal('archived'), data: Type.Object({}) }),
  Type.Object({ ...EventBase, type: Type.Literal('unarchived'), data: Type.Object({}) }),
  Type.Object({ ...EventBase, type: Type.Literal('no_reply_expired'), data: Type.Object({
    waited_ms: Type.Integer({ description: 'from the send that armed the timer, ms' }), no_reply_at: Timestamp,
  }) }),
  Type.Object({ ...EventBase, type: Type.Literal('sla_breached'), data: Type.Object({ target: SlaTarget, due_at: Timestamp }) }),
  Type.Object({ ...EventBase, type: Type.Literal('read'), data: Type.Object({
    updated_count: Type.Integer({ description: 'unread messages this cleared' }), by: Actor,
  }) }),
  Type.Object({ ...EventBase, type: Type.Literal('unread'), data: Type.Object({ unread_count: Type.Integer({ description: 'the count after' }), by: Actor }) }),
  Type.Object({ ...EventBase, type: Type.Literal('starred'), data: ActorBy }),
  Type.Object({ ...EventBase, type: Type.Literal('unstarred'), data: ActorBy }),
  Type.Object({ ...EventBase, type: Type.Literal('assigned'), data: Type.Object({ assigned_to: Nullable(Id('mem')), by: Actor }) }),
  Type.Object({ ...EventBase, type: Type.Literal('note'), data: Type.Object({ note_id: Id('note'), text: Type.String(), author: Actor }) }),
  Type.Object({ ...EventBase, type: Type.Literal('call'), data: Type.Object({
    call_id: Id('call'), direction: Direction, duration_s: Type.Integer({ description: 'seconds' }),
    summary: Nullable(Type.String()), transcript: Nullable(Type.String()), recording_url: Nullable(Type.String()),
    started_at: Timestamp, logged_by: Actor,
  }) }),
  Type.Object({ ...EventBase, type: Type.Literal('suggestion_created'), data: Type.Object({
    suggestion_id: Id('sug'), text: Type.String(), model: Nullable(Type.String()), agent: Nullable(Type.String()),
  }) }),
  Type.Object({ ...EventBase, type: Type.Literal('suggestion_sent'), data: Type.Object({
    suggestion_id: Id('sug'), text: Type.String({ description: 'the text sent' }), edited: Type.Boolean(), message_id: Id('msg'), by: Actor,
  }) }),
  Type.Object({ ...EventBase, type: Type.Literal('suggestion_dismissed'), data: Type.Object({ suggestion_id: Id('sug'), by: Actor }) }),
  ReactionEvent,
  Type.Object({ ...EventBase, type: Type.Literal('connection_activated'), data: ConnectionData }),
  Type.Object({ ...EventBase, type: Type.Literal('connection_released'), data: ConnectionData }),
  Type.Object({ ...EventBase, type: Type.Literal('merged'), data: Type.Object({
    into: Type.String({ description: '`conv_…` id of the conversation this one became part of; requests naming this one act on it' }),
    reason: Type.Union([Type.Literal('threading'), Type.Literal('manual')], { description: '`threading`: a message linked the two; `manual`: POST …/merge' }),
    by: Nullable(Actor, { description: 'who merged them (manual merges); null for threading' }),
  }) }),
], { $id: 'Event', description: 'timeline event, discriminated on `type`' });

/** An internal note as `/messages?include=notes` lists it. */
export const Note = Type.Object({
  type: Type.Literal('note'), id: Id('note'), conversation_id: Id('conv'), at: Timestamp, text: Type.String(), author: Actor,
}, { $id: 'Note' });

/** A logged call as `/messages?include=calls` lists it. */
export const Call = Type.Object({
  type: Type.Literal('call'), id: Id('call'), conversation_id: Id('conv'), at: Timestamp,
  direction: Direction, duration_s: Type.Integer({ description: 'seconds' }),
  summary: Nullable(Type.String()), transcript: Nullable(Type.String()), recording_url: Nullable(Type.String()),
  started_at: Timestamp, logged_by: Actor,
}, { $id: 'Call' });

export const EventType = Type.Unsafe<EventTypeName>({ type: 'string', enum: [...EVENT_TYPES] });

export const LatestMessage = Type.Object({
  text: Type.String(), at: Timestamp, direction: Direction, has_media: Type.Boolean(),
});

const ConversationFields = {
  id: Id('conv'),
  identity_id: Id('idn'),
  account_id: Id('acct'),
  channel: ChannelName,
  subject: Nullable(Type.String()),
  counterpart: Nullable(Type.String({ description: 'the external address' })),
  contact_id: Nullable(Id('ct')),
  created_at: Timestamp,
  message_count: Type.Integer(),
  unread_count: Type.Integer(),
  latest_message: Nullable(LatestMessage),
  last_event_at: Timestamp,
  labels: Type.Array(Type.String()),
  archived: Type.Boolean(),
  no_reply_at: Nullable(Timestamp, { description: 'when the no-reply timer armed by a send fires' }),
  last_no_reply_at: Nullable(Timestamp, { description: 'when a no-reply timer last fired' }),
  sla_due_at: Nullable(Timestamp, { description: 'when a response is due under the SLA policy' }),
  overdue: Type.Boolean({ description: '`sla_due_at` passed without a response' }),
  starred: Type.Boolean(),
  assigned_to: Nullable(Id('mem'), { description: 'the assigned member' }),
  is_blocked: Type.Boolean({ description: 'the counterpart matched a block rule when their mail arrived' }),
  connection_status: Nullable(Type.Union([Type.Literal('active'), Type.Literal('released')]), {
    description: 'the router connection on a shared line (SMS, iMessage); null when the conversation has none',
  }),
  connection_id: Nullable(Type.String({ description: '`conn_…`' }), {
    description: 'the router connection carrying this conversation on a shared line (GET /v1/connections/{id}; Inkbox `assignment_id`): the latest one activated in it, active or released; null when it has none',
  }),
};

/** Where a conversation matched the list's `q`. */
export const SearchHit = Type.Object({
  snippet: Type.String({ description: 'HTML: about 200 characters of the latest matching message around its first match, each matched word in `<mark>`…`</mark>`, the rest escaped, `…` where cut' }),
  message_id: Nullable(Id('msg'), { description: 'the message the snippet is from' }),
});

export const Conversation = Type.Object({
  ...ConversationFields,
  search: Type.Optional(SearchHit),
}, { $id: 'Conversation' });

export const AttributeValue = Type.Union([Type.String({ maxLength: 1000 }), Type.Number(), Type.Boolean(), Type.Null()]);

export const ContactAddress = Type.Object({
  channel: ChannelName,
  address: Type.String({ description: 'lower-cased; belongs to one contact of the organization' }),
});

export const Contact = Type.Object({
  id: Id('ct'),
  display_name: Nullable(Type.String()),
  company: Nullable(Type.String()),
  position: Nullable(Type.String()),
  headline: Nullable(Type.String()),
  avatar_url: Nullable(Type.String({ description: 'http(s) URL' })),
  attributes: Type.Record(Type.String(), AttributeValue, { description: 'custom attributes' }),
  addresses: Type.Array(ContactAddress),
  created_at: Timestamp,
  updated_at: Timestamp,
}, { $id: 'Contact' });

export const ContactRule = Type.Object({
  id: Id('rule'),
  action: Type.Union([Type.Literal('block'), Type.Literal('allow')]),
  kind: Type.Union([Type.Literal('address'), Type.Literal('domain'), Type.Literal('number_prefix')]),
  pattern: Type.String({ description: 'lower-cased address, domain, or E.164 prefix' }),
  identity_id: Nullable(Id('idn'), { description: 'null: every identity of the organization' }),
  created_at: Timestamp,
}, { $id: 'ContactRule' });

export const AccountStatus = Type.Union(
  [Type.Literal('connected'), Type.Literal('active'), Type.Literal('warming'), Type.Literal('disconnected'), Type.Literal('error')],
  { description: 'health: `connected`, `active` and `warming` can send; `disconnected` and `error` refuse sends with 409 `sender_disconnected`' },
);

/** The account a conversation sends through, with its health. */
export const Sender = Type.Object({
  id: Id('acct'),
  channel: ChannelName,
  address: Type.String(),
  display_name: Nullable(Type.String()),
  status: AccountStatus,
  status_reason: Nullable(Type.String({ description: 'why, as the provider or adapter last said' })),
}, { $id: 'Sender' });

export const ConversationSnapshot = Type.Object({
  ...ConversationFields,
  sender: Nullable(Sender, { description: 'the account replies go out through (the conversation\'s own); null when it was deleted' }),
  sender_disconnected: Type.Boolean({
    description: 'true when a reply cannot go out: the sender\'s `status` is `disconnected` or `error` (a send answers 409 `sender_disconnected`; reconnect the account), or it was deleted on a channel other than email (email falls back to another mailbox of the identity)',
  }),
  contact: Nullable(Contact, { description: 'the counterpart\'s contact, with its profile' }),
  merged_from: Type.Array(Type.String(), {
    description: '`conv_…` ids of the conversations merged into this one (their events are part of its timeline; requests naming them act on this one). Asked by a merged id, the answer is this conversation: its `id` differs from the one asked for',
  }),
  events: Type.Array(Event, { description: 'oldest first; the first page (see has_more_events)' }),
  has_more_events: Type.Boolean(),
  events_next_cursor: Nullable(Type.String()),
}, { $id: 'ConversationSnapshot' });

export const Identity = Type.Object({
  id: Id('idn'),
  handle: Type.String(),
  display_name: Nullable(Type.String()),
  routing_code: Nullable(Type.String({ description: 'the code a person texts to a shared line to be connected to this identity (upper-case); null when none' })),
  created_at: Timestamp,
  updated_at: Timestamp,
}, { $id: 'Identity' });

/** A routing code as sent: compared case-insensitively, stored upper-case. */
export const RoutingCodeInput = Type.String({
  minLength: 2, maxLength: 32, pattern: '^[A-Za-z0-9]+$',
  description: '2-32 letters or digits, unique in the organization, any case (stored upper-case); not a provider keyword (STOP, HELP, START, …)',
});

export const Connection = Type.Object({
  id: Id('conn'),
  account_id: Type.String({ description: 'the shared line (`acct_…` id)' }),
  identity_id: Type.String({ description: 'the identity the person is connected to (`idn_…` id)' }),
  counterpart: Type.String({ description: 'the person on the line (E.164 for SMS; a handle or E.164 for iMessage)' }),
  conversation_id: Type.String({ description: 'the identity\'s conversation with the person on this line (`conv_…` id)' }),
  status: Type.Union([Type.Literal('active'), Type.Literal('released')]),
  activated_at: Timestamp,
  released_at: Nullable(Timestamp),
  release_reason: Nullable(Type.Union([Type.Literal('stop'), Type.Literal('api')]), {
    description: '`stop`: the person texted an opt-out keyword; `api`: POST /v1/connections/{id}/release',
  }),
}, { $id: 'Connection' });

export const SmtpRelayInput = Type.Object({
  host: Type.String({ minLength: 1, maxLength: 255 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  secure: Type.Optional(Type.Boolean({ description: 'TLS from the start (465); default false' })),
  user: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
  password: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
}, { additionalProperties: false });

export const Mailbox = Type.Object({
  id: Id('acct'),
  identity_id: Id('idn'),
  channel: Type.Literal('email'),
  address: Type.String(),
  display_name: Nullable(Type.String()),
  status: Type.String(),
  smtp: Nullable(Type.Object({
    host: Type.String(), port: Type.Integer(), secure: Type.Boolean(), user: Nullable(Type.String()),
    has_password: Type.Boolean(),
  })),
  inbound_policy: Type.Union([Type.Literal('accept'), Type.Literal('flag'), Type.Literal('reject')]),
  catch_all: Type.Boolean(),
  auto_replies_stop_no_reply: Type.Boolean(),
  verp: Type.Boolean(),
  last_sent_at: Nullable(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
}, { $id: 'Mailbox' });


export const ChannelAccount = Type.Object({
  id: Id('acct'),
  identity_id: Id('idn'),
  channel: ChannelName,
  address: Type.String({ description: 'E.164 for SMS; E.164 or email for iMessage; the provider\'s id for HTTP channels' }),
  display_name: Nullable(Type.String()),
  pool: Type.Boolean({ description: 'a shared line: people are routed to identities by routing code (GET /v1/connections)' }),
  status: AccountStatus,
  status_reason: Nullable(Type.String({ description: 'why, as the provider or adapter last said' })),
  status_at: Nullable(Timestamp),
  config: Type.Record(Type.String(), Type.Unknown(), { description: 'provider settings; secrets (tokens, passwords, secrets) show as `true` once set' }),
  last_sent_at: Nullable(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
}, { $id: 'ChannelAccount' });

/** Binary response body (attachments, raw messages); sent as-is, never serialized. */
export const Binary = Type.Unsafe<Buffer>({ type: 'string', format: 'binary' });

export const EmailString = Type.String({ format: 'email', maxLength: 320 });
export const Label = Type.String({ minLength: 1, maxLength: 100 });

export type ConversationView = Static<typeof Conversation>;
export type MessageView = Static<typeof Message>;
export type NoteView = Static<typeof Note>;
export type CallView = Static<typeof Call>;
export type IdentityView = Static<typeof Identity>;
export type MailboxView = Static<typeof Mailbox>;
export type ChannelAccountView = Static<typeof ChannelAccount>;
export type SenderView = Static<typeof Sender>;
export type ContactView = Static<typeof Contact>;
export type ContactRuleView = Static<typeof ContactRule>;
export type ConnectionView = Static<typeof Connection>;
