/**
 * AI suggestions (`sb.suggestions`): drafts an agent proposes for a human to send,
 * edit or dismiss, and the training pairs sends leave (`trainingPairs`).
 */
import { keysetPaginator, type Paginator } from '../pagination.js';
import type { BodyOf, Page, QueryOf, RequestOptions, ResultOf, Suggestion } from '../types.js';
import { Resource } from './resource.js';

type TrainingPair = ResultOf<'listTrainingPairs'>['data'][number];

export class Suggestions extends Resource {
  /** Proposes a draft reply on a conversation. */
  create(conversationId: string, body: BodyOf<'createSuggestion'>, options?: RequestOptions): Promise<Suggestion> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/suggestions', { params: { path: { id: conversationId } }, body, ...init }), options);
  }

  /** A conversation's suggestions, newest first (`status: 'pending'` for the open ones). */
  list(conversationId: string, params: QueryOf<'listSuggestions'> = {}, options?: RequestOptions): Paginator<Suggestion, Page<Suggestion>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/conversations/{id}/suggestions', { params: { path: { id: conversationId }, query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  get(conversationId: string, suggestionId: string, options?: RequestOptions): Promise<Suggestion> {
    return this.read((init) => this.api.GET('/v1/conversations/{id}/suggestions/{sid}', { params: { path: { id: conversationId, sid: suggestionId } }, ...init }), options);
  }

  /**
   * Sends a pending suggestion as the reply, optionally edited (`text`).
   *
   * @throws ConflictError `suggestion_not_pending`.
   */
  send(conversationId: string, suggestionId: string, body: BodyOf<'sendSuggestion'> = {}, options?: RequestOptions): Promise<ResultOf<'sendSuggestion'>> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/suggestions/{sid}/send', { params: { path: { id: conversationId, sid: suggestionId } }, body, ...init }), options);
  }

  /** Dismisses a pending suggestion. @throws ConflictError `suggestion_not_pending` */
  dismiss(conversationId: string, suggestionId: string, body: BodyOf<'dismissSuggestion'> = {}, options?: RequestOptions): Promise<Suggestion> {
    return this.write((init) => this.api.POST('/v1/conversations/{id}/suggestions/{sid}/dismiss', { params: { path: { id: conversationId, sid: suggestionId } }, body, ...init }), options);
  }

  /** Training pairs (draft and sent text), oldest first, as JSON pages. */
  trainingPairs(params: Omit<QueryOf<'listTrainingPairs'>, 'format'> = {}, options?: RequestOptions): Paginator<TrainingPair, Page<TrainingPair>> {
    const { cursor, ...query } = params;
    // The route also answers JSON Lines (`format=jsonl`); without `format` it is a JSON page.
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/training_pairs', { params: { query: { ...query, cursor: at } }, ...init }), options) as Promise<Page<TrainingPair>>, cursor);
  }
}
