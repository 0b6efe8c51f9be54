import type { Generated } from 'kysely';

/**
 * Table shapes, shared by every dialect. Portable column types only: timestamps are
 * RFC 3339 UTC text (fixed width, so they sort as text), booleans are 0/1 integers and
 * JSON is text, so the same queries run on SQLite and PostgreSQL.
 */

export interface OrganizationsTable {
  id: string;
  name: string;
  created_at: string;
}

export interface ApiKeysTable {
  id: string;
  org_id: string;
  name: string;
  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  secret_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  /** The member the key acts as (assignment `me`, training-pair authorship); null for an org key. */
  member_id: string | null;
  /** The one identity the key sees; null for an org-wide key. */
  identity_id: string | null;
  /** JSON array of permissions; null grants every permission. */
  permissions: string | null;
}

export interface MembersTable {
  id: string;
  org_id: string;
  /** Lower-cased; unique in the organization. */
  email: string;
  name: string | null;
  /** `owner` | `admin` | `agent` */
  role: string;
  /** The one identity whose conversations the member sees (their sessions and keys too); null for all. */
  identity_id: string | null;
  created_at: string;
  updated_at: string;
}

/** A one-time sign-in link of a member (services/sessions.ts): only its token's hash is kept. */
export interface LoginLinksTable {
  /** SHA-256 of the token, hex. */
  token_hash: string;
  org_id: string;
  member_id: string;
  created_at: string;
  expires_at: string;
  /** When it was exchanged for a session; a link works once. */
  used_at: string | null;
}

/** A signed-in person's browser session (cookie `sb_session`), kept server-side so it can be revoked. */
export interface SessionsTable {
  id: string;
  org_id: string;
  member_id: string;
  /** SHA-256 of the cookie's secret, hex. */
  secret_hash: string;
  /** The value state-changing requests carry in `X-CSRF-Token`. */
  csrf_token: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
  revoked_at: string | null;
  /** The browser's User-Agent at sign-in, at most 300 characters (for a list of sessions). */
  user_agent: string | null;
}

export interface IdentitiesTable {
  id: string;
  org_id: string;
  handle: string;
  display_name: string | null;
  /** The code a person texts to a shared line to be connected to this identity (unique in the org), or null. */
  routing_code: string | null;
  created_at: string;
  updated_at: string;
}

export interface ChannelAccountsTable {
  id: string;
  org_id: string;
  identity_id: string;
  channel: string;
  /** Lower-cased address; unique per channel across the server (inbound routing). */
  address: string;
  display_name: string | null;
  status: string;
  /** JSON: channel settings (for email, the SMTP relay; for SMS, the Twilio account and base URL; …). */
  config: string;
  last_sent_at: string | null;
  /** Why `status` is what it is (the adapter's last error), or null. */
  status_reason: string | null;
  /** When `status` last changed (RFC 3339), or null. */
  status_at: string | null;
  /** 1 for a shared line (SMS, iMessage) whose people are routed to identities by code (router connections). */
  pool: number;
  created_at: string;
  updated_at: string;
}

export interface ContactsTable {
  id: string;
  org_id: string;
  display_name: string | null;
  company: string | null;
  position: string | null;
  headline: string | null;
  avatar_url: string | null;
  /** JSON object of custom attributes. */
  attributes: Generated<string>;
  created_at: string;
  updated_at: string;
}

export interface ContactAddressesTable {
  org_id: string;
  channel: string;
  address: string;
  contact_id: string;
}

export interface ConversationsTable {
  id: string;
  org_id: string;
  identity_id: string;
  account_id: string;
  channel: string;
  subject: string | null;
  /** The external counterpart's address. */
  counterpart: string | null;
  contact_id: string | null;
  created_at: string;
  // projections (SPEC section 3), updated with each event
  message_count: number;
  unread_count: number;
  latest_text: string | null;
  latest_at: string | null;
  latest_direction: string | null;
  latest_has_media: number;
  last_event_at: string;
  /** JSON array of strings. */
  labels: string;
  archived: number;
  /** Subject without reply prefixes, lower-cased (subject-fallback threading). */
  subject_key: string;
  // timer projections (migration 0002)
  outbound_count: number;
  no_reply_at: string | null;
  /** When the armed no-reply timer started (the send that armed it). */
  no_reply_since: string | null;
  last_no_reply_at: string | null;
  sla_due_at: string | null;
  /** `first_response` | `next_response` while `sla_due_at` is set. */
  sla_target: string | null;
  overdue: number;
  // inbox projections (migration 0003)
  starred: number;
  /** `mem_…` id or null. */
  assigned_to: string | null;
  /** The counterpart matched a block rule when its mail arrived. */
  is_blocked: number;
  /** Projection: the router connection's state on a shared line (`active`, `released`), or null. */
  connection_status: string | null;
  /** Projection: that connection's id (`conn_…`), or null (migration 0012). */
  connection_id: string | null;
  /**
   * The conversation this one was merged into (migration 0008), or null for a live one.
   * A merged row is kept for its id and never listed or counted.
   */
  merged_into: string | null;
}

export interface ContactRulesTable {
  id: string;
  org_id: string;
  /** null: the rule applies to every identity of the organization. */
  identity_id: string | null;
  /** `block` | `allow` */
  action: string;
  /** `address` | `domain` | `number_prefix` */
  kind: string;
  /** Lower-cased address, domain, or E.164 prefix. */
  pattern: string;
  created_at: string;
}

export interface SuggestionsTable {
  id: string;
  org_id: string;
  conversation_id: string;
  text: string;
  model: string | null;
  agent: string | null;
  /** `pending` | `sent` | `dismissed` */
  status: string;
  sent_message_id: string | null;
  sent_text: string | null;
  /** 0/1 once sent. */
  edited: number | null;
  created_at: string;
  updated_at: string;
}

export interface TrainingPairsTable {
  id: string;
  org_id: string;
  conversation_id: string;
  suggestion_id: string;
  message_id: string;
  draft: string;
  sent_text: string;
  edited: number;
  model: string | null;
  agent: string | null;
  sent_by_member_id: string | null;
  sent_by_key_id: string;
  created_at: string;
}

export interface ViewsTable {
  id: string;
  org_id: string;
  name: string;
  /** JSON: the conversation-list filter. */
  filter: string;
  created_at: string;
  updated_at: string;
}

export interface TimersTable {
  conversation_id: string;
  /** `no_reply` | `sla` */
  kind: string;
  org_id: string;
  due_at: string;
  /** A sweeper holds it until then (RFC 3339); null when free. */
  claimed_until: string | null;
}

export interface SlaPoliciesTable {
  org_id: string;
  first_response_ms: number | null;
  next_response_ms: number | null;
  updated_at: string;
}

export interface WebhookEndpointsTable {
  id: string;
  org_id: string;
  url: string;
  description: string | null;
  /** JSON array of event types; empty means all. */
  event_types: string;
  secret: string;
  enabled: number;
  disabled_reason: string | null;
  /** Events up to this seq have had their deliveries created. */
  cursor_seq: number;
  /** Start of the current run of failed attempts; null after a success. */
  failing_since: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookDeliveriesTable {
  /** `msg_…`-style id sent as `webhook-id`. */
  id: string;
  org_id: string;
  endpoint_id: string;
  event_id: string;
  event_seq: number;
  event_type: string;
  /** The JSON body, fixed at creation so every attempt signs the same bytes. */
  payload: string;
  /** `pending` | `succeeded` | `failed` */
  status: string;
  attempt_count: number;
  next_attempt_at: string | null;
  claimed_until: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookAttemptsTable {
  id: string;
  delivery_id: string;
  at: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
}

export interface ConversationParticipantsTable {
  conversation_id: string;
  org_id: string;
  address: string;
  domain: string;
}

export interface EventsTable {
  seq: number;
  id: string;
  org_id: string;
  conversation_id: string;
  type: string;
  at: string;
  /** JSON payload. */
  data: string;
  created_at: string;
}

export interface MessagesTable {
  id: string;
  org_id: string;
  conversation_id: string;
  event_id: string;
  direction: string;
  status: string;
  error: string | null;
  provider_message_id: string | null;
  /** The `Idempotency-Key` of the request that created this outbound channel message, or null. */
  idempotency_key: string | null;
  created_at: string;
  updated_at: string;
}

export interface EmailMessageIdsTable {
  org_id: string;
  identity_id: string;
  message_id: string;
  conversation_id: string;
  /** 1 when a message with this id is stored, 0 for an id only referenced. */
  stored: number;
}

export interface RawMessagesTable {
  message_id: string;
  org_id: string;
  raw: Buffer;
}

export interface MediaTable {
  id: string;
  org_id: string;
  message_id: string | null;
  filename: string | null;
  content_type: string;
  size_bytes: number;
  content_id: string | null;
  disposition: string | null;
  /** The bytes, for media kept in the store (email attachments); empty when `storage_key` is set. */
  content: Buffer;
  /** Where the bytes are in the media storage (uploads, on disk under the data directory), or null. */
  storage_key: string | null;
  /** For an upload not yet attached: the identity the uploading key was scoped to (null: org-wide). */
  identity_id: string | null;
  created_at: string;
}

/** Outgoing email not yet accepted by a relay (migration 0009; services/outbound-queue.ts). */
export interface OutboundQueueTable {
  /** `msg_…` id; the bytes are in `raw_messages`. */
  message_id: string;
  org_id: string;
  /** The mailbox whose relay it goes through. */
  account_id: string;
  /** JSON `{from, to: [...]}`: the SMTP envelope. */
  envelope: string;
  /** `queued` (not tried yet), `deferred` (a temporary failure; retried), `failed` (given up; kept for the operator). */
  state: string;
  attempts: number;
  /** When the next attempt is due (RFC 3339); null once failed. */
  next_attempt_at: string | null;
  /** A worker holds it until then; null when free. */
  claimed_until: string | null;
  /** Past this, a temporary failure becomes final (`OUTBOUND_LIFETIME_MS` after queueing). */
  expires_at: string;
  /** The relay's last refusal or the connection error. */
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface IdempotencyKeysTable {
  org_id: string;
  /**
   * The API key that sent it (`key_…`): a key's Idempotency-Key is its own. '' for a row
   * written before keys were kept per API key (migration 0010).
   */
  key_id: Generated<string>;
  key: string;
  /** `METHOD path` the key was first used on. */
  route: string;
  request_hash: string;
  /** null while the first request is still running. */
  status_code: number | null;
  response: string | null;
  created_at: string;
}

export interface Database {
  organizations: OrganizationsTable;
  api_keys: ApiKeysTable;
  members: MembersTable;
  login_links: LoginLinksTable;
  sessions: SessionsTable;
  contact_rules: ContactRulesTable;
  suggestions: SuggestionsTable;
  training_pairs: TrainingPairsTable;
  views: ViewsTable;
  identities: IdentitiesTable;
  channel_accounts: ChannelAccountsTable;
  contacts: ContactsTable;
  contact_addresses: ContactAddressesTable;
  conversations: ConversationsTable;
  timers: TimersTable;
  sla_policies: SlaPoliciesTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  conversation_participants: ConversationParticipantsTable;
  events: EventsTable;
  org_sequences: OrgSequencesTable;
  conversation_counts: ConversationCountsTable;
  connections: ConnectionsTable;
  provider_message_ids: ProviderMessageIdsTable;
  messages: MessagesTable;
  email_message_ids: EmailMessageIdsTable;
  raw_messages: RawMessagesTable;
  media: MediaTable;
  idempotency_keys: IdempotencyKeysTable;
  outbound_queue: OutboundQueueTable;
}

/** Router connections: one person on a shared line linked to one identity (SPEC section 2). */
export interface ConnectionsTable {
  /** `conn_…` */
  id: string;
  org_id: string;
  /** The shared line (a `pool` channel account). */
  account_id: string;
  identity_id: string;
  /** The person's address on the line (E.164 for SMS, a handle or E.164 for iMessage). */
  counterpart: string;
  conversation_id: string;
  /** `active` or `released`. */
  status: string;
  activated_at: string;
  released_at: string | null;
  /** `stop` or `api`, for a released connection. */
  release_reason: string | null;
}

/** Provider message ids per account: inbound dedup, and status callbacks / reactions finding their message. */
export interface ProviderMessageIdsTable {
  account_id: string;
  provider_message_id: string;
  org_id: string;
  message_id: string;
  conversation_id: string;
}

/**
 * Live conversations per organization and combination of the counted columns, kept by
 * triggers on `conversations` (migration 0014, store/conversation-counts.ts).
 */
export interface ConversationCountsTable {
  org_id: string;
  identity_id: string;
  channel: string;
  archived: number;
  starred: number;
  is_blocked: number;
  overdue: number;
  /** The assigned member's id, '' for none. */
  assignee: string;
  total: number;
  /** Of `total`, those with unread messages. */
  unread: number;
}

export interface OrgSequencesTable {
  org_id: string;
  last_seq: number;
  /** Bumped by every transaction that takes the org's write lock (store/sequences.ts). */
  version: Generated<number>;
}
