/**
 * The change feed (`sb.events`): every event of the organization in commit order, polled
 * page by page (`list`) or live over Server-Sent Events (`stream`).
 */
import { streamEvents, type StreamItem, type StreamOptions } from '../event-stream.js';
import { Paginator } from '../pagination.js';
import type { Event, QueryOf, RequestOptions, ResultOf } from '../types.js';
import { Resource } from './resource.js';

/** A page of the feed: `next_after` is the `after` of the next call. */
export type FeedPage = ResultOf<'listEvents'>;

export class Events extends Resource {
  /**
   * The feed after `params.after` (a seq, 0 by default; `latest` gives one empty page whose
   * `next_after` is the head, see {@link Events.head}), oldest first. Iterating it walks
   * to the head (`has_more: false`); keep the last event's `seq` (or a page's
   * `next_after`) and call again with it to poll for what came since.
   *
   * @throws ConflictError `cursor_ahead` when `after` is beyond the organization's latest event.
   */
  list(params: QueryOf<'listEvents'> = {}, options?: RequestOptions): Paginator<Event, FeedPage, number | 'latest'> {
    const { after, ...query } = params;
    return new Paginator<Event, FeedPage, number | 'latest'>(
      (at) => this.read((init) => this.api.GET('/v1/events', { params: { query: { ...query, after: at ?? 0 } }, ...init }), options),
      (page) => (page.has_more ? page.next_after : undefined),
      after,
    );
  }

  /**
   * The seq of the organization's latest event (`GET /v1/events?after=latest`): the
   * `after` from which a poll sees only what commits from now on.
   */
  async head(options?: RequestOptions): Promise<number> {
    const page = await this.read((init) => this.api.GET('/v1/events', { params: { query: { after: 'latest' } }, ...init }), options);
    return page.next_after;
  }

  /**
   * The live stream: every event from `after` on, then each as it commits, reconnecting
   * with `Last-Event-ID` as needed; never an event twice or out of order.
   *
   * ```ts
   * for await (const event of sb.events.stream({ after: lastSeq })) { lastSeq = event.seq; … }
   * ```
   *
   * @throws SwitchboardError on an answer a reconnection cannot fix (401, 403, `409 cursor_ahead`).
   */
  stream(options: StreamOptions & { readonly typing: true }): AsyncGenerator<StreamItem, void, undefined>;
  stream(options?: StreamOptions & { readonly typing?: false }): AsyncGenerator<Event, void, undefined>;
  stream(options: StreamOptions = {}): AsyncGenerator<StreamItem, void, undefined> {
    return streamEvents(this.http, options);
  }
}
