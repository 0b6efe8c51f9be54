/**
 * The client: `new Switchboard({ baseUrl, apiKey })`, with the API's resources as
 * properties (`sb.conversations.list()`, `sb.messages.send()`, `sb.events.stream()`, …).
 */
import { Http } from './http.js';
import { Conversations } from './resources/conversations.js';
import { Contacts, ContactRules } from './resources/contacts.js';
import { Events } from './resources/events.js';
import { ChannelAccounts, Connections, Identities, Mailboxes } from './resources/identities.js';
import { Inbound } from './resources/inbound.js';
import { Media } from './resources/media.js';
import { ApiKeys, Members } from './resources/members.js';
import { Messages } from './resources/messages.js';
import { Suggestions } from './resources/suggestions.js';
import { Sla, Views } from './resources/views.js';
import { WebhookEndpoints } from './resources/webhook-endpoints.js';

/** The options of a {@link Switchboard} client. */
export interface SwitchboardConfig {
  /** The server's URL, e.g. `http://localhost:8080` (without `/v1`). */
  readonly baseUrl: string;
  /** An API key (`sb_key_…`), sent as `Authorization: Bearer`. */
  readonly apiKey: string;
  /** Retries of a failed call after its first attempt (default 2). */
  readonly maxRetries?: number;
  /** Per-attempt timeout, ms (default 60 000). */
  readonly timeoutMs?: number;
  /** The `fetch` to use (default `globalThis.fetch`). */
  readonly fetch?: typeof globalThis.fetch;
}

export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * A Switchboard API client. Every method returns the API's own shapes (typed from its
 * OpenAPI document) and throws a `SwitchboardError` carrying the server's problem
 * details. Writes carry an `Idempotency-Key` and are retried with backoff when the
 * failure is transient; lists auto-paginate.
 *
 * @example
 * ```ts
 * const sb = new Switchboard({ baseUrl: 'http://localhost:8080', apiKey: process.env.SWITCHBOARD_API_KEY! });
 * for await (const c of sb.conversations.list({ unread: true })) {
 *   await sb.conversations.reply(c.id, { text: 'Thanks, on it.' });
 *   await sb.conversations.markRead(c.id);
 * }
 * ```
 */
export class Switchboard {
  readonly conversations: Conversations;
  readonly messages: Messages;
  readonly suggestions: Suggestions;
  readonly events: Events;
  readonly identities: Identities;
  readonly mailboxes: Mailboxes;
  readonly channelAccounts: ChannelAccounts;
  readonly connections: Connections;
  readonly contacts: Contacts;
  readonly contactRules: ContactRules;
  readonly members: Members;
  readonly apiKeys: ApiKeys;
  readonly views: Views;
  readonly sla: Sla;
  readonly webhookEndpoints: WebhookEndpoints;
  readonly media: Media;
  readonly inbound: Inbound;

  /** @throws TypeError when `baseUrl` or `apiKey` is missing, or no `fetch` exists. */
  constructor(config: SwitchboardConfig) {
    if (!config.baseUrl) throw new TypeError('Switchboard: baseUrl is required (e.g. http://localhost:8080).');
    if (!config.apiKey) throw new TypeError('Switchboard: apiKey is required.');
    const fetchImpl = config.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('Switchboard: no fetch; pass one as `fetch`.');
    const http = new Http({
      baseUrl: config.baseUrl.replace(/\/+$/, ''),
      apiKey: config.apiKey,
      maxRetries: config.maxRetries ?? DEFAULT_MAX_RETRIES,
      timeoutMs: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      fetch: fetchImpl,
    });
    this.conversations = new Conversations(http);
    this.messages = new Messages(http);
    this.suggestions = new Suggestions(http);
    this.events = new Events(http);
    this.identities = new Identities(http);
    this.mailboxes = new Mailboxes(http);
    this.channelAccounts = new ChannelAccounts(http);
    this.connections = new Connections(http);
    this.contacts = new Contacts(http);
    this.contactRules = new ContactRules(http);
    this.members = new Members(http);
    this.apiKeys = new ApiKeys(http);
    this.views = new Views(http);
    this.sla = new Sla(http);
    this.webhookEndpoints = new WebhookEndpoints(http);
    this.media = new Media(http);
    this.inbound = new Inbound(http);
  }
}
