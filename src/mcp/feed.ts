/**
 * Waiting on the change feed (`GET /v1/events?after=`) through the SDK, for the
 * `wait_for_events` tool: a long poll built from short polls, so that it works the same
 * over every transport (inside the server the SDK's requests go through `app.inject`,
 * which cannot carry the live SSE stream).
 */
import type { Event, EventType, FeedPage, Switchboard } from '@switchboard/sdk';

/** First pause between two polls of an empty feed, ms; it doubles up to {@link MAX_POLL_MS}. */
export const FIRST_POLL_MS = 250;
/** Longest pause between two polls, ms (how late a waiting agent may learn of an event). */
export const MAX_POLL_MS = 1_000;

/** What {@link waitForEvents} waits for. */
export interface WaitOptions {
  /** Events with a greater seq. */
  readonly after: number;
  /** How long to wait for a first event, ms. */
  readonly timeoutMs: number;
  /** Most events returned (1–200). */
  readonly limit: number;
  readonly types?: readonly EventType[];
  readonly conversationId?: string;
  /** Ends the wait early (the client went away, the server shuts down): the empty page so far is returned. */
  readonly signal?: AbortSignal;
  /** Called after each empty poll with the ms waited so far (progress notifications). */
  readonly onPoll?: (waitedMs: number) => void;
}

/** A feed page, and whether the wait ended without an event. */
export interface WaitResult {
  readonly events: Event[];
  readonly nextAfter: number;
  readonly hasMore: boolean;
  readonly timedOut: boolean;
}

/**
 * Polls the feed after `options.after` until it holds at least one event or the time is
 * up: events come back as soon as one is committed (within {@link MAX_POLL_MS}).
 *
 * @returns the events (oldest first, at most `limit`), the `after` of the next call, and
 *   `timedOut` when none came.
 * @throws SwitchboardError when a poll fails (`409 cursor_ahead` for an `after` beyond
 *   the feed, `403 missing_permission` without `events:read`).
 */
export async function waitForEvents(sb: Switchboard, options: WaitOptions): Promise<WaitResult> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let pause = FIRST_POLL_MS;
  for (;;) {
    const page: FeedPage = await sb.events.list({
      after: options.after, limit: options.limit,
      ...(options.types?.length ? { types: [...options.types] } : {}),
      ...(options.conversationId ? { conversation_id: options.conversationId } : {}),
    }).page();
    const left = deadline - Date.now();
    if (page.data.length > 0 || left <= 0 || options.signal?.aborted) {
      return { events: page.data, nextAfter: page.next_after, hasMore: page.has_more, timedOut: page.data.length === 0 };
    }
    options.onPoll?.(Date.now() - started);
    await pauseFor(Math.min(pause, left), options.signal);
    pause = Math.min(pause * 2, MAX_POLL_MS);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
function pauseFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
