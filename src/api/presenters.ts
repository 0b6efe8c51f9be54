/**
 * Rows to API shapes.
 */
import type { Channel, MessageData, TimelineEvent } from '../domain/events.js';
import { parsePermissions } from '../services/access.js';
import type { ContactRecord } from '../services/contacts.js';
import { mailboxConfig } from '../services/identities.js';
import type { ConnectionRow } from '../store/connections.js';
import type { ContactRuleRow } from '../store/contact-rules.js';
import type { ApiKeyRow } from '../store/tenants.js';
import type { AccountRow, IdentityRow } from '../store/identities.js';
import { summaryOf, type ConversationRow } from '../store/timeline.js';
import type {
  CallView, ChannelAccountView, ConnectionView, ContactRuleView, ContactView, ConversationView, IdentityView, MailboxView, MessageView, NoteView, SenderView,
} from './schemas.js';

export function conversationView(row: ConversationRow): ConversationView {
  const s = summaryOf(row);
  return {
    id: row.id,
    identity_id: row.identity_id,
    account_id: row.account_id,
    channel: row.channel as Channel,
    subject: row.subject,
    counterpart: row.counterpart,
    contact_id: row.contact_id,
    created_at: row.created_at,
    message_count: s.message_count,
    unread_count: s.unread_count,
    latest_message: s.latest_message,
    last_event_at: s.last_event_at,
    labels: [...s.labels],
    archived: s.archived,
    no_reply_at: s.no_reply_at,
    last_no_reply_at: s.last_no_reply_at,
    sla_due_at: s.sla_due_at,
    overdue: s.overdue,
    starred: s.starred,
    assigned_to: s.assigned_to,
    is_blocked: row.is_blocked === 1,
    connection_status: s.connection_status,
    connection_id: s.connection_id,
  };
}

/**
 * A `message` event as a message resource, with its current status and the conversation
 * it is in now (the survivor, once the one it arrived in was merged; the event keeps
 * the conversation it happened in).
 */
export function messageView(
  event: TimelineEvent & { type: 'message' },
  current?: { status: string; error: string | null; provider_message_id?: string | null; conversation_id?: string },
): MessageView {
  const { message_id, ...fields } = event.data as MessageData;
  return {
    type: 'message',
    id: message_id,
    conversation_id: current?.conversation_id ?? event.conversation_id,
    at: event.at,
    ...fields,
    // A channel's provider id is learned after the send (its answer, or its webhook echo).
    provider_message_id: fields.provider_message_id ?? current?.provider_message_id ?? null,
    status: (current?.status ?? fields.status) as MessageView['status'],
    error: current?.error ?? null,
  } as MessageView;
}

export function noteView(event: TimelineEvent & { type: 'note' }): NoteView {
  const { note_id, ...data } = event.data;
  return { type: 'note', id: note_id, conversation_id: event.conversation_id, at: event.at, ...data };
}

export function callView(event: TimelineEvent & { type: 'call' }): CallView {
  const { call_id, ...data } = event.data;
  return { type: 'call', id: call_id, conversation_id: event.conversation_id, at: event.at, ...data };
}

export function identityView(row: IdentityRow): IdentityView {
  return {
    id: row.id, handle: row.handle, display_name: row.display_name, routing_code: row.routing_code,
    created_at: row.created_at, updated_at: row.updated_at,
  };
}

export function mailboxView(row: AccountRow): MailboxView {
  const { smtp, inbound_policy, catch_all, auto_replies_stop_no_reply, verp } = mailboxConfig(row);
  return {
    id: row.id,
    identity_id: row.identity_id,
    channel: 'email',
    address: row.address,
    display_name: row.display_name,
    status: row.status,
    smtp: smtp ? { host: smtp.host, port: smtp.port, secure: smtp.secure, user: smtp.user, has_password: !!smtp.password } : null,
    inbound_policy, catch_all, auto_replies_stop_no_reply, verp,
    last_sent_at: row.last_sent_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** Config keys whose values are secrets: shown as `true` (set) instead of the value. */
const SECRET_KEY = /token|secret|password|key/i;

/** A URL setting without the secrets it may carry (user info, secret-named query parameters). */
function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  const secretParams = [...url.searchParams.keys()].filter((name) => SECRET_KEY.test(name));
  if (!url.username && !url.password && secretParams.length === 0) return text;
  url.username = '';
  url.password = '';
  for (const name of secretParams) url.searchParams.set(name, 'redacted');
  return url.toString();
}

/** Settings with each secret (at any depth, in objects and arrays) replaced by whether it is set, and URLs without their credentials. */
function redactValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactValue);
  if (v !== null && typeof v === 'object') return redactSecrets(v as Record<string, unknown>);
  return typeof v === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? redactUrl(v) : v;
}

function redactSecrets(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? v !== null && v !== undefined && v !== '' : redactValue(v)]));
}

export function channelAccountView(row: AccountRow): ChannelAccountView {
  const config = redactSecrets(JSON.parse(row.config) as Record<string, unknown>);
  return {
    id: row.id,
    identity_id: row.identity_id,
    channel: row.channel as Channel,
    address: row.address,
    display_name: row.display_name,
    pool: row.pool === 1,
    status: row.status as ChannelAccountView['status'],
    status_reason: row.status_reason,
    status_at: row.status_at,
    config,
    last_sent_at: row.last_sent_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** A conversation's sending account as the snapshot shows it (no config). */
export function senderView(row: AccountRow): SenderView {
  return {
    id: row.id, channel: row.channel as Channel, address: row.address, display_name: row.display_name,
    status: row.status as SenderView['status'], status_reason: row.status_reason,
  };
}

export function contactView({ row, addresses }: ContactRecord): ContactView {
  return {
    id: row.id,
    display_name: row.display_name,
    company: row.company,
    position: row.position,
    headline: row.headline,
    avatar_url: row.avatar_url,
    attributes: JSON.parse(row.attributes) as ContactView['attributes'],
    addresses: addresses.map((a) => ({ channel: a.channel as 'email', address: a.address })),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export function contactRuleView(row: ContactRuleRow): ContactRuleView {
  return {
    id: row.id,
    action: row.action as ContactRuleView['action'],
    kind: row.kind as ContactRuleView['kind'],
    pattern: row.pattern,
    identity_id: row.identity_id,
    created_at: row.created_at,
  };
}

export function connectionView(row: ConnectionRow): ConnectionView {
  return {
    id: row.id,
    account_id: row.account_id,
    identity_id: row.identity_id,
    counterpart: row.counterpart,
    conversation_id: row.conversation_id,
    status: row.status as ConnectionView['status'],
    activated_at: row.activated_at,
    released_at: row.released_at,
    release_reason: row.release_reason as ConnectionView['release_reason'],
  };
}

/** An API key as the API shows it (`ApiKey` in docs/api.md), never with its secret. */
export function apiKeyView(row: ApiKeyRow) {
  return {
    id: row.id, name: row.name, member_id: row.member_id, identity_id: row.identity_id,
    permissions: parsePermissions(row.permissions), created_at: row.created_at, last_used_at: row.last_used_at, revoked_at: row.revoked_at,
  };
}
