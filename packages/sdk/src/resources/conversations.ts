/**
 * Conversations (`sb.conversations`): list and read them, reply by id, and the inbox
 * actions (read state, star, archive, labels, assignment, notes, calls, merge).
 */
import { keysetPaginator, type Paginator } from '../pagination.js';
import type {
  BodyOf, Conversation, ConversationSnapshot, Event, Page, QueryOf, RequestOptions, ResultOf, SendResult,
} from '../types.js';
import { Resource } from './resource.js';

type ListParams = QueryOf<'listConversations'>;
type TimelineMessage = ResultOf<'listConversationMessages'>['data'][number];

export class Conversations extends Resource {
  /**
   * Conversations, newest activity first, filtered by `params` (`identity_id`, `unread`,
   * `q`, `label`, `view_id`, …; see the API guide). Iterate it for every conversation
   * across pages, or call `.page()` for one page.
   */
  list(params: ListParams = {}, options?: RequestOptions): Paginator<Conversation, Page<Conversation>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/conversations', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  /**
   * A conversation's snapshot: summary, recent timeline (`events`), contact and sender.
   *
   * @param params `mark_read: true` marks it read first; `identity_id` asserts its identity (404 otherwise).
   * @throws NotFoundError when it does not exist or this key cannot see it.
   */
  get(id: string, params: QueryOf<'getConversation'> = {}, options?: RequestOptions): Promise<ConversationSnapshot> {
    return this.read((init) => this.api.GET('/v1/conversations/{id}', { params: { path: { id }, query: params }, ...init }), options);
  }

  /** Changes `archived`, `starred`, `unread_count` or `labels` (the full set). */
  update(id: string, body: BodyOf<'updateConversation'>, options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.PATCH('/v1/conversations/{id}', { params: { path: { id } }, body, ...init }), options);
  }

  /** The timeline, page by page (`order`, `types`). */
  events(id: string, params: QueryOf<'listConversationEvents'> = {}, options?: RequestOptions): Paginator<Event, Page<Event>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/conversations/{id}/events', { params: { path: { id }, query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  /** The messages, page by page (`include: ['calls', 'notes']` interleaves those). */
  messages(id: string, params: QueryOf<'listConversationMessages'> = {}, options?: RequestOptions): Paginator<TimelineMessage, Page<TimelineMessage>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/conversations/{id}/messages', { params: { path: { id }, query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  /**
   * Replies by conversation id: the server resolves recipient, subject, threading
   * headers and sending account. Safe to retry: the call's Idempotency-Key is reused.
   *
   * @throws ConflictError `connection_released` / `sender_disconnected`; ServerError `upstream_failed` once retries are spent.
   */
  reply(id: string, body: BodyOf<'replyToConversation'>, options?: RequestOptions): Promise<SendResult> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/messages', { params: { path: { id } }, body, ...init }), options);
  }

  /** Marks inbound messages read (sends the read receipt where the channel has one). */
  markRead(id: string, options?: RequestOptions): Promise<ResultOf<'markConversationRead'>> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/read', { params: { path: { id } }, ...init }), options);
  }

  /** Marks it unread again (unread count at least 1). */
  markUnread(id: string, options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/unread', { params: { path: { id } }, ...init }), options);
  }

  /** Archives it, or unarchives it with `archived: false`. */
  archive(id: string, archived = true, options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/archive', { params: { path: { id } }, body: { archived }, ...init }), options);
  }

  star(id: string, options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.PUT('/v1/conversations/{id}/star', { params: { path: { id } }, ...init }), options);
  }

  unstar(id: string, options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.DELETE('/v1/conversations/{id}/star', { params: { path: { id } }, ...init }), options);
  }

  /**
   * Assigns it to a member, or unassigns it with null.
   *
   * @throws UnprocessableEntityError `not_a_member`.
   */
  assign(id: string, assignedTo: string | null, options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/assign', { params: { path: { id } }, body: { assigned_to: assignedTo }, ...init }), options);
  }

  /** Adds labels. */
  addLabels(id: string, labels: string[], options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/labels', { params: { path: { id } }, body: { labels }, ...init }), options);
  }

  /** Removes labels. */
  removeLabels(id: string, labels: string[], options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.DELETE('/v1/conversations/{id}/labels', { params: { path: { id }, query: { label: labels } }, ...init }), options);
  }

  /** Adds an internal note (never sent). */
  addNote(id: string, body: BodyOf<'addConversationNote'>, options?: RequestOptions): Promise<ResultOf<'addConversationNote'>> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/notes', { params: { path: { id } }, body, ...init }), options);
  }

  /** Logs a call on the timeline. */
  logCall(id: string, body: BodyOf<'logConversationCall'>, options?: RequestOptions): Promise<ResultOf<'logConversationCall'>> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/calls', { params: { path: { id } }, body, ...init }), options);
  }

  /** Reacts to one of its messages (an iMessage tapback goes to the channel). */
  react(id: string, body: BodyOf<'reactToMessage'>, options?: RequestOptions): Promise<ResultOf<'reactToMessage'>> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/reactions', { params: { path: { id } }, body, ...init }), options);
  }

  /** Sends a typing indicator (`started` by default) to live subscribers and the channel. */
  typing(id: string, body: BodyOf<'sendTyping'> = {}, options?: RequestOptions): Promise<ResultOf<'sendTyping'>> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/typing', { params: { path: { id } }, body, ...init }), options);
  }

  /**
   * Merges another conversation of the same identity with this one (the older survives).
   *
   * @throws UnprocessableEntityError `identity_mismatch`.
   */
  merge(id: string, otherId: string, options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/merge', { params: { path: { id } }, body: { conversation_id: otherId }, ...init }), options);
  }

  /** How many conversations are past their SLA deadline. */
  overdueCount(params: QueryOf<'countOverdueConversations'> = {}, options?: RequestOptions): Promise<number> {
    return this.read((init) => this.api.GET('/v1/conversations/overdue/count', { params: { query: params }, ...init }), options).then((r) => r.count);
  }
}
