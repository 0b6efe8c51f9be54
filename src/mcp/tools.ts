/**
 * The MCP server's tools (Model Context Protocol, modelcontextprotocol.io), defined once
 * on top of the SDK client and served by both transports: Streamable HTTP at `POST /mcp`
 * (api/routes/mcp.ts, the SDK calling the app in process with the caller's key) and
 * stdio (`switchboard mcp`, cli/mcp.ts, the SDK calling a remote server). Every tool is
 * one or a few API calls with the client's key, so the key's permissions and identity
 * scope apply to each exactly as they do to the API: another identity's conversation is
 * `not_found` through every tool.
 *
 * Inputs are zod schemas whose descriptions tell an LLM what to pass; results are compact
 * JSON text (present.ts); an API error is a tool error (`isError: true`) carrying the
 * problem's `code`, `detail` and `fix`, so the agent can correct its call.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { SwitchboardError, type BodyOf, type EventType, type Switchboard } from '@switchboard/sdk';
import { z } from 'zod';
import { EVENT_TYPES } from '../domain/events.js';
import { waitForEvents } from './feed.js';
import { compactEvent, conversationDetail, conversationSummary, identityWithAccounts } from './present.js';

/** The tools, by name: the same list over both transports. */
export const TOOL_NAMES = [
  'list_conversations', 'get_conversation', 'reply', 'send_message', 'mark_read', 'wait_for_events',
  'list_identities', 'add_note', 'create_suggestion', 'react',
] as const;

export type ToolName = (typeof TOOL_NAMES)[number];

/** Longest `wait_for_events` wait, s (MCP clients commonly time a call out after 60 s). */
export const MAX_WAIT_S = 60;
/** `wait_for_events` waits this long when not told, s. */
export const DEFAULT_WAIT_S = 25;
/** How often a waiting `wait_for_events` reports progress (when the client asked for it), ms. */
const PROGRESS_EVERY_MS = 10_000;

/** Options of {@link createMcpServer}. */
export interface McpServerOptions {
  /** Ends waits early (the server shutting down, the client gone). */
  readonly signal?: AbortSignal;
}

const SERVER_INFO = { name: 'switchboard', version: '0.1.0' };

const INSTRUCTIONS = 'Switchboard keeps conversations (email, SMS, iMessage, LinkedIn) between your identities and people. '
  + 'Typical loop: list_conversations {unread: true} or wait_for_events for new inbound messages; get_conversation to read one; '
  + 'reply by conversation_id (the server works out recipient, subject and threading); mark_read when handled. '
  + 'Use create_suggestion instead of reply when a human should approve the text, add_note for internal notes. '
  + 'Errors come back as JSON {error: {code, detail, fix}}: follow `fix`.';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const conversationId = z.string().min(1).max(100)
  .describe('The conversation\'s id (`conv_…`), from list_conversations, get_conversation or an event.');
const text = (what: string) => z.string().min(1).max(100_000).describe(what);

/** A successful result: the value as compact JSON text. */
function ok(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }] };
}

/** A next step for the agent, beyond the API's own `fix`, where the tool names it better. */
const TOOL_HINTS: Partial<Record<string, string>> = {
  not_found: 'Call list_conversations (or list_identities) for ids this key can see.',
  forbidden_identity: 'Call list_identities: this key acts for those identities only.',
  cursor_ahead: 'Call wait_for_events without `after` to wait from now on.',
};

/**
 * A failed call as a tool error: the problem's `code`, `status`, `detail`, `fix` (and
 * `param`, `retryable`, field `errors` when it has them), as JSON text.
 */
export function toolError(err: unknown): CallToolResult {
  if (!(err instanceof SwitchboardError)) {
    return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error: { code: 'internal_error', detail: 'The tool failed unexpectedly.', fix: 'Retry; if it fails again, report it.' } }) }] };
  }
  const error = {
    code: err.code, status: err.status, detail: err.detail, fix: err.fix,
    ...(TOOL_HINTS[err.code] ? { hint: TOOL_HINTS[err.code] } : {}),
    ...(err.param ? { param: err.param } : {}),
    ...(err.retryable ? { retryable: true } : {}),
    ...(err.errors.length > 1 ? { errors: err.errors } : {}),
  };
  return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error }) }] };
}

/** Runs a tool's work: its value as {@link ok}, a failure as {@link toolError}. */
async function run(work: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return ok(await work());
  } catch (err) {
    return toolError(err);
  }
}

/**
 * Sends progress notifications while a long call runs, when the client asked for them
 * (a `progressToken`): clients that reset their timeout on progress then let a long
 * `wait_for_events` finish.
 */
function progressReporter(extra: Extra, totalMs: number): (waitedMs: number) => void {
  const token = extra._meta?.progressToken;
  if (token === undefined) return () => undefined;
  let last = 0;
  return (waitedMs) => {
    if (waitedMs - last < PROGRESS_EVERY_MS) return;
    last = waitedMs;
    void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: waitedMs, total: totalMs } }).catch(() => undefined);
  };
}

/**
 * An MCP server with Switchboard's tools, each calling the API through `sb` (and so with
 * its key). Connect it to a transport (`server.connect(transport)`).
 *
 * @param sb the SDK client the tools act through.
 */
export function createMcpServer(sb: Switchboard, options: McpServerOptions = {}): McpServer {
  const server = new McpServer(SERVER_INFO, { instructions: INSTRUCTIONS });

  server.registerTool('list_conversations', {
    title: 'List conversations',
    description: 'Conversations this key can see, newest activity first, each with its counterpart, subject, unread count and latest message preview. '
      + 'Filter with `unread: true` for those waiting for an answer, `q` for full-text search, `identity_id` for one identity. '
      + 'Pass `next_cursor` back as `cursor` for the next page.',
    inputSchema: {
      q: z.string().min(1).max(500).optional().describe('Full-text search over messages (words, "quoted phrases"); each hit has `match`, the matching text.'),
      unread: z.boolean().optional().describe('true: only conversations with unread inbound messages; false: only those without.'),
      identity_id: z.string().min(1).max(100).optional().describe('Only this identity\'s conversations (`idn_…`, from list_identities).'),
      archived: z.boolean().optional().describe('true: only archived; false: only not archived. Both when left out.'),
      starred: z.boolean().optional().describe('true: only starred conversations.'),
      label: z.string().min(1).max(100).optional().describe('Only conversations with this label.'),
      channel: z.enum(['email', 'sms', 'imessage', 'linkedin', 'http']).optional().describe('Only this channel.'),
      with: z.string().min(1).max(320).optional().describe('Only conversations with this exact participant address (email or phone).'),
      limit: z.number().int().min(1).max(50).default(20).describe('How many to return (1-50).'),
      cursor: z.string().min(1).max(1_000).optional().describe('`next_cursor` of the previous call, for the next page.'),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args) => run(async () => {
    const page = await sb.conversations.list(args).page();
    return { conversations: page.data.map(conversationSummary), next_cursor: page.next_cursor, has_more: page.has_more };
  }));

  server.registerTool('get_conversation', {
    title: 'Read a conversation',
    description: 'One conversation: its summary (counterpart, subject, unread count, contact, sending account) and its most recent timeline events, oldest first. '
      + 'Message bodies are plain text with the quoted history trimmed (`quoted_trimmed: true` says so); notes, calls, suggestions and status changes are inline. '
      + 'Each event has a `seq`: pass the last one as `after` to wait_for_events to wait for what comes next.',
    inputSchema: {
      conversation_id: conversationId,
      events: z.number().int().min(1).max(100).default(20).describe('How many of the most recent timeline events to include (1-100).'),
      include_headers: z.boolean().default(false).describe('Also give each email\'s Message-ID, In-Reply-To and References (rarely needed: reply threads by itself).'),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, ({ conversation_id, events, include_headers }) => run(async () => {
    const snapshot = await sb.conversations.get(conversation_id);
    // The snapshot holds the first events (oldest first): the whole timeline of a short
    // conversation; a longer one's most recent events are read newest first.
    const recent = snapshot.has_more_events
      ? (await sb.conversations.events(snapshot.id, { order: 'desc', limit: events }).page()).data.reverse()
      : snapshot.events.slice(-events);
    const earlier = snapshot.has_more_events || snapshot.events.length > recent.length;
    return conversationDetail(snapshot, recent, earlier, include_headers);
  }));

  server.registerTool('reply', {
    title: 'Reply in a conversation',
    description: 'Sends `text` to the person in the conversation, on its channel, from its own account. The server works out the recipient, the "Re:" subject and the email threading headers: pass only the conversation id and the text. '
      + 'Plain text only. Use create_suggestion instead when a human should approve the reply first.',
    inputSchema: {
      conversation_id: conversationId,
      text: text('The message to send, plain text.'),
      no_reply_after_ms: z.number().int().min(1).optional().describe('Arm a no-reply timer: if the person has not answered this many ms after the send, a `no_reply_expired` event appears (wait_for_events sees it).'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  }, ({ conversation_id, text: body, no_reply_after_ms }) => run(async () => {
    const sent = await sb.conversations.reply(conversation_id, { text: body, ...(no_reply_after_ms ? { no_reply_after: no_reply_after_ms } : {}) });
    return { conversation_id: sent.conversation_id, message_id: sent.message.id, status: sent.message.status, to: sent.message.to.map((a) => a.address), subject: sent.message.subject ?? undefined };
  }));

  server.registerTool('send_message', {
    title: 'Send a first message',
    description: 'Starts a new conversation with someone: a first email (with `subject`), SMS, iMessage or LinkedIn message from one of your identities. '
      + 'To answer someone who already wrote, use reply with the conversation id instead. Returns the new conversation\'s id.',
    inputSchema: {
      identity_id: z.string().min(1).max(100).describe('The identity sending (`idn_…`, from list_identities; it needs an account on the channel).'),
      channel: z.enum(['email', 'sms', 'imessage', 'linkedin', 'http']).default('email').describe('The channel: email (default), sms, imessage, linkedin or http.'),
      to: z.union([z.string().min(1).max(320), z.array(z.string().min(1).max(320)).min(1).max(50)])
        .describe('The recipient: an email address (or a list of them, email only), a phone number with country code (sms, imessage), or the provider\'s id of the person (linkedin, http).'),
      subject: z.string().min(1).max(998).optional().describe('The subject: required for email, not allowed on other channels.'),
      text: text('The message, plain text.'),
      cc: z.array(z.string().min(1).max(320)).max(50).optional().describe('Email only: addresses to copy.'),
      account_id: z.string().min(1).max(100).optional().describe('Send from this account of the identity (`acct_…`, from list_identities); by default the server picks one.'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  }, (args) => run(async () => {
    const sent = await sb.messages.send(sendBody(args));
    return { conversation_id: sent.conversation_id, message_id: sent.message.id, status: sent.message.status, to: sent.message.to.map((a) => a.address) };
  }));

  server.registerTool('mark_read', {
    title: 'Mark a conversation read',
    description: 'Marks the conversation\'s inbound messages read (sends a read receipt on channels that have them, such as iMessage). Call it once a conversation is handled.',
    inputSchema: { conversation_id: conversationId },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  }, ({ conversation_id }) => run(async () => {
    const read = await sb.conversations.markRead(conversation_id);
    return { conversation_id: read.conversation.id, updated_count: read.updated_count, unread_count: read.conversation.unread_count };
  }));

  server.registerTool('wait_for_events', {
    title: 'Wait for new events',
    description: 'Waits until something happens (a new inbound message, a delivery status, a note, …) and returns the events as soon as there are any, or an empty list when `timeout_s` passes. '
      + 'This is how to wait for a person\'s answer: call it with `conversation_id` and `types: ["message"]`, then call it again with `after` = the returned `next_after`. '
      + 'Without `after` it waits for what happens from now on.',
    inputSchema: {
      after: z.number().int().min(0).optional().describe('Return events after this seq: `next_after` of the previous call, or an event\'s `seq`. Leave out to wait from now on.'),
      timeout_s: z.number().int().min(0).max(MAX_WAIT_S).default(DEFAULT_WAIT_S).describe(`How long to wait for a first event, seconds (0-${MAX_WAIT_S}; 0 just checks).`),
      conversation_id: conversationId.optional().describe('Only this conversation\'s events.'),
      types: z.array(z.enum(EVENT_TYPES as [EventType, ...EventType[]])).min(1).max(EVENT_TYPES.length).optional()
        .describe('Only these event types, e.g. ["message"] for messages sent and received (each has `direction`: inbound or outbound).'),
      limit: z.number().int().min(1).max(200).default(50).describe('Most events returned at once (1-200); `has_more` says when more are waiting.'),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, ({ after, timeout_s, conversation_id, types, limit }, extra) => run(async () => {
    // A conversation the key cannot see is a not_found now, rather than a silent wait.
    if (conversation_id) await sb.conversations.events(conversation_id, { limit: 1 }).page();
    const start = after ?? await sb.events.head();
    const signal = options.signal ? AbortSignal.any([options.signal, extra.signal]) : extra.signal;
    const result = await waitForEvents(sb, {
      after: start, timeoutMs: timeout_s * 1000, limit, types, conversationId: conversation_id, signal,
      onPoll: progressReporter(extra, timeout_s * 1000),
    });
    return { events: result.events.map((e) => compactEvent(e)), next_after: result.nextAfter, has_more: result.hasMore, timed_out: result.timedOut };
  }));

  server.registerTool('list_identities', {
    title: 'List identities',
    description: 'The identities (agents or team inboxes) this key acts for, each with the accounts it sends and receives on (email addresses, phone numbers) and their health. '
      + 'Use an identity\'s id for send_message and to filter list_conversations.',
    inputSchema: {},
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, () => run(async () => {
    const [identities, accounts] = await Promise.all([sb.identities.list().toArray(200), sb.channelAccounts.list().toArray(1_000)]);
    return { identities: identities.map((i) => identityWithAccounts(i, accounts)) };
  }));

  server.registerTool('add_note', {
    title: 'Add an internal note',
    description: 'Adds an internal note to the conversation\'s timeline, for the team: it is never sent to the person.',
    inputSchema: { conversation_id: conversationId, text: text('The note, plain text.') },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  }, ({ conversation_id, text: body }) => run(async () => {
    const note = await sb.conversations.addNote(conversation_id, { text: body });
    return { note_id: note.id, conversation_id: note.conversation_id, at: note.at };
  }));

  server.registerTool('create_suggestion', {
    title: 'Suggest a reply for approval',
    description: 'Proposes a draft reply that a human reviews in the inbox and sends (possibly edited) or dismisses. Nothing is sent to the person now. '
      + 'Use it instead of reply when a human should approve the text.',
    inputSchema: {
      conversation_id: conversationId,
      text: text('The draft reply, plain text.'),
      model: z.string().min(1).max(200).optional().describe('The model that wrote it, shown to the reviewer.'),
      agent: z.string().min(1).max(200).optional().describe('The agent that wrote it, shown to the reviewer.'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  }, ({ conversation_id, ...body }) => run(async () => {
    const suggestion = await sb.suggestions.create(conversation_id, body);
    return { suggestion_id: suggestion.id, conversation_id: suggestion.conversation_id, status: suggestion.status };
  }));

  server.registerTool('react', {
    title: 'React to a message',
    description: 'Reacts to one message of the conversation: on iMessage a tapback the person sees (love, like, dislike, laugh, emphasize, question); on other channels it is recorded on the timeline only.',
    inputSchema: {
      conversation_id: conversationId,
      message_id: z.string().min(1).max(100).describe('The message (`msg_…`, the `message_id` of a message event from get_conversation).'),
      reaction: z.string().min(1).max(50).describe('iMessage: love, like, dislike, laugh, emphasize or question; other channels: any short text, such as an emoji.'),
      removed: z.boolean().default(false).describe('true takes the reaction back.'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  }, ({ conversation_id, ...body }) => run(async () => compactEvent(await sb.conversations.react(conversation_id, body))));

  return server;
}

type SendArgs = {
  identity_id: string; channel: 'email' | 'sms' | 'imessage' | 'linkedin' | 'http'; to: string | string[];
  subject?: string; text: string; cc?: string[]; account_id?: string;
};

/**
 * The body of `POST /v1/messages` for the tool's arguments: email takes a list of
 * recipients, a subject and Cc; the other channels one recipient. What does not fit the
 * channel is passed on as given, for the API to name in its `validation_failed`.
 */
function sendBody(a: SendArgs): BodyOf<'sendMessage'> {
  const common = { identity_id: a.identity_id, text: a.text, ...(a.account_id ? { account_id: a.account_id } : {}) };
  if (a.channel === 'email') {
    return { ...common, channel: 'email', to: [a.to].flat(), subject: a.subject as string, ...(a.cc ? { cc: a.cc } : {}) };
  }
  const extra = { ...(a.subject !== undefined ? { subject: a.subject } : {}), ...(a.cc ? { cc: a.cc } : {}) };
  return { ...common, channel: a.channel, to: Array.isArray(a.to) && a.to.length === 1 ? a.to[0]! : a.to, ...extra } as BodyOf<'sendMessage'>;
}
