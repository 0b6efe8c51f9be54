/**
 * Compact shapes of the API's answers for the MCP tools: an agent pays per token, so the
 * tools leave out what an agent does not act on (HTML bodies, email headers unless asked,
 * authentication results, actor objects, empty fields) and trim message bodies to their
 * new text (the quoted history is in the earlier messages of the same timeline).
 */
import type { ChannelAccount, Conversation, ConversationSnapshot, Event, Identity } from '@switchboard/sdk';
import { htmlToText, replyText } from '../domain/snippet.js';

/** Longest message body a tool returns, in characters; past it the text is cut. */
export const MAX_BODY_CHARS = 4_000;
/** Longest head of a body examined for the quoted reply (the parser's cost grows with length). */
const MAX_PARSED_CHARS = 16_000;

type MessageEvent = Extract<Event, { type: 'message' }>;
type Address = { readonly address: string; readonly name: string | null };

/** `Name <address>`, or the address alone. */
const addressText = (a: Address): string => (a.name ? `${a.name} <${a.address}>` : a.address);

/** Drops keys whose value is null, undefined, an empty array or an empty string. */
function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0))) as Partial<T>;
}

/**
 * A message body as an agent reads it: the new text without the quoted reply (kept whole
 * when all of it is quoted), cut at {@link MAX_BODY_CHARS}.
 *
 * @returns the text, and flags saying what was left out.
 */
export function bodyText(text: string | null): { text: string; quoted_trimmed?: true; truncated?: true } {
  if (!text) return { text: '' };
  const head = text.slice(0, MAX_PARSED_CHARS);
  const reply = replyText(head);
  const cut = reply.text.length > MAX_BODY_CHARS || (!reply.trimmed && text.length > head.length);
  return {
    text: reply.text.length > MAX_BODY_CHARS ? `${reply.text.slice(0, MAX_BODY_CHARS)}…` : reply.text,
    ...(reply.trimmed ? { quoted_trimmed: true as const } : {}),
    ...(cut ? { truncated: true as const } : {}),
  };
}

/** A conversation's summary: who, what, and whether it waits for an answer. */
export function conversationSummary(c: Conversation) {
  return compact({
    id: c.id,
    identity_id: c.identity_id,
    channel: c.channel,
    subject: c.subject,
    counterpart: c.counterpart,
    unread_count: c.unread_count,
    message_count: c.message_count,
    latest: c.latest_message ? { direction: c.latest_message.direction, at: c.latest_message.at, text: c.latest_message.text } : null,
    last_event_at: c.last_event_at,
    labels: c.labels,
    starred: c.starred || null,
    archived: c.archived || null,
    assigned_to: c.assigned_to,
    overdue: c.overdue || null,
    connection_status: c.connection_status,
    // The search hit is HTML (`<mark>` around matches): as text.
    match: c.search ? htmlToText(c.search.snippet) : null,
  });
}

/** A timeline message: direction, people, subject, new text, status and attachments. */
function messageEvent(e: MessageEvent, includeHeaders: boolean) {
  const m = e.data;
  return compact({
    seq: e.seq,
    type: e.type,
    at: e.at,
    conversation_id: e.conversation_id,
    message_id: m.message_id,
    direction: m.direction,
    from: m.from ? addressText(m.from) : null,
    to: m.to.map(addressText),
    cc: m.cc.map(addressText),
    subject: m.subject,
    ...bodyText(m.text ?? (m.html ? htmlToText(m.html) : null)),
    status: m.direction === 'outbound' ? m.status : null,
    attachments: m.media.map((x) => compact({ id: x.id, filename: x.filename, content_type: x.content_type, size_bytes: x.size_bytes })),
    auto_submitted: m.auto_submitted || null,
    spoofed: m.spoofed || null,
    headers: includeHeaders ? m.headers : null,
  });
}

/** Actor fields (`{member_id, key_id}`) that say who did something; left out of compact events. */
const ACTOR_KEYS = new Set(['by', 'author', 'logged_by']);

/**
 * One timeline or feed event, compact: messages as {@link messageEvent}, other events as
 * their type, time and data without actor objects.
 *
 * @param includeHeaders keep a message's email headers (Message-ID, In-Reply-To, References).
 */
export function compactEvent(e: Event, includeHeaders = false) {
  if (e.type === 'message') return messageEvent(e, includeHeaders);
  const data = Object.fromEntries(Object.entries(e.data as Record<string, unknown>).filter(([k]) => !ACTOR_KEYS.has(k)));
  return compact({ seq: e.seq, type: e.type, at: e.at, conversation_id: e.conversation_id, ...data });
}

/**
 * A conversation snapshot with its recent timeline.
 *
 * @param events the most recent events, oldest first.
 * @param earlier whether older events exist than those given.
 */
export function conversationDetail(s: ConversationSnapshot, events: readonly Event[], earlier: boolean, includeHeaders: boolean) {
  const contact = s.contact
    ? compact({ id: s.contact.id, name: s.contact.display_name, company: s.contact.company, position: s.contact.position })
    : null;
  return compact({
    ...conversationSummary(s),
    latest: undefined,
    contact,
    sender: s.sender ? compact({ channel: s.sender.channel, address: s.sender.address, status: s.sender.status }) : null,
    sender_disconnected: s.sender_disconnected || null,
    earlier_events: earlier || null,
    // An event's conversation is this one's unless it was merged in from another.
    events: events.map((e) => {
      const { conversation_id, ...rest } = compactEvent(e, includeHeaders);
      return conversation_id === s.id ? rest : { conversation_id, ...rest };
    }),
  });
}

/** An identity with the addresses it sends and receives on. */
export function identityWithAccounts(i: Identity, accounts: readonly ChannelAccount[]) {
  return compact({
    id: i.id,
    handle: i.handle,
    display_name: i.display_name,
    routing_code: i.routing_code,
    accounts: accounts.filter((a) => a.identity_id === i.id).map((a) => compact({
      id: a.id, channel: a.channel, address: a.address, status: a.status, shared_line: a.pool || null,
    })),
  });
}
