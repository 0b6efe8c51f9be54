/**
 * The live change feed, `GET /v1/events/stream` (Server-Sent Events, WHATWG HTML
 * "Server-sent events"), as an async iterable that survives disconnections: each event
 * carries its feed `seq` as the SSE `id`; the iterator keeps the last one and reconnects
 * with `Last-Event-ID`, so the server resumes right after it. An event at or below the
 * last seq (a replay around a reconnection) is dropped, so none is yielded twice, and
 * the feed's order (ascending seq) is the order yielded.
 *
 * It reconnects after the server's `retry:` delay when the stream ends (a server
 * shutting down says `shutdown`, a client too slow gets `dropped`, a key revoked or
 * narrowed meanwhile gets `ended`: its reconnection then fails or sees the new scope), when the connection
 * fails or goes silent past `idleTimeoutMs` (the server sends a heartbeat every 15 s by
 * default), and after a retryable answer (429, 503); it throws on any other answer
 * (401, 403, `409 cursor_ahead`, 400). The stream is parsed by `eventsource-parser`.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { errorFromResponse, SwitchboardError } from './errors.js';
import type { Http } from './http.js';
import { backoffMs, retryAfterMs, sleep } from './retry.js';
import type { Event, EventType, TypingSignal } from './types.js';

/** What `events.stream()` yields: feed events, and typing signals when asked for. */
export type StreamItem = Event | TypingSignal;

export interface StreamOptions {
  /**
   * Where to start: after this seq (0, the default, replays the whole feed first), or
   * `'latest'` for only what commits from now on.
   */
  readonly after?: number | 'latest';
  /** Only these event types (all by default). */
  readonly types?: readonly EventType[];
  /** Also yield typing signals (`type: 'typing'`: live only, never stored, no seq). */
  readonly typing?: boolean;
  /** Only this conversation's events. */
  readonly conversation_id?: string;
  /** Ends the iteration (and closes the connection). */
  readonly signal?: AbortSignal;
  /** Wait before reconnecting, ms, instead of the server's `retry:` (2 s by default). */
  readonly reconnectDelayMs?: number;
  /** A connection on which nothing (not even a heartbeat) arrives this long is replaced, ms (45 s by default). */
  readonly idleTimeoutMs?: number;
}

/** Longest wait between reconnection attempts, ms. */
const MAX_RECONNECT_DELAY_MS = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS = 45_000;
const DEFAULT_RETRY_MS = 2_000;

/** The position to resume from: the last seq yielded (or announced), else the caller's start. */
interface Position {
  seq: number | undefined;
  readonly latest: boolean;
}

/**
 * Iterates the stream until `options.signal` aborts or the consumer stops.
 *
 * @throws SwitchboardError on an answer that is not retryable (401, 403, 400, `409 cursor_ahead`).
 */
export async function* streamEvents(http: Http, options: StreamOptions = {}): AsyncGenerator<StreamItem, void, undefined> {
  const position: Position = { seq: typeof options.after === 'number' ? options.after : undefined, latest: options.after === 'latest' };
  const wantsTyping = options.typing ?? false;
  let retryMs = options.reconnectDelayMs ?? DEFAULT_RETRY_MS;
  let failures = 0;
  while (!options.signal?.aborted) {
    const connection = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, connection.signal]) : connection.signal;
    let body: ReadableStream<Uint8Array>;
    try {
      body = await connect(http, options, position, signal);
    } catch (err) {
      if (options.signal?.aborted) return;
      const retryable = !(err instanceof SwitchboardError) || err.retryable;
      if (!retryable) throw err;
      failures += 1;
      const asked = err instanceof SwitchboardError ? retryAfterMs(err.headers) : null;
      await pause(asked ?? Math.min(MAX_RECONNECT_DELAY_MS, retryMs + backoffMs(failures)), options.signal);
      continue;
    }
    failures = 0;
    const items: StreamItem[] = [];
    let prologue: string | null = position.latest && position.seq === undefined ? '' : null;
    const parser = createParser({
      onEvent: (message) => {
        const item = toItem(message, position, wantsTyping);
        if (item) items.push(item);
      },
      onRetry: (ms) => {
        if (options.reconnectDelayMs === undefined) retryMs = ms;
      },
    });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    // Ending a read is done here, not left to fetch: the signal fetch got is derived from
    // `signal` and may be collected once the answer's headers are in (Node's fetch follows
    // a request's signal through a weak reference), after which aborting it would never
    // reach the body and the read below would go on with the server's heartbeats.
    const cancel = () => void reader.cancel().catch(() => undefined);
    signal.addEventListener('abort', cancel, { once: true });
    try {
      for (;;) {
        const { done, value } = await readWithin(reader, options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, connection);
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        if (prologue !== null) prologue = readPrologue(prologue + text, position);
        parser.feed(text);
        while (items.length > 0) yield items.shift()!;
      }
    } catch {
      // A broken or silent connection: reconnect below (unless the caller aborted).
    } finally {
      signal.removeEventListener('abort', cancel);
      connection.abort();
      try { reader.releaseLock(); } catch { /* a read still pending on the aborted connection */ }
    }
    if (options.signal?.aborted) return;
    await pause(retryMs, options.signal);
  }
}

/** Opens one connection: the stream's body, or the answer's error. */
async function connect(http: Http, options: StreamOptions, position: Position, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const resume = position.seq !== undefined;
  const query = {
    ...(resume ? {} : { after: position.latest ? ('latest' as const) : 0 }),
    ...(options.types ? { types: [...options.types, ...(options.typing ? ['typing' as const] : [])] } : {}),
    ...(options.conversation_id ? { conversation_id: options.conversation_id } : {}),
  };
  // Only the wait for the answer's headers is timed; the stream itself lasts.
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error('timed out')), http.config.timeoutMs);
  try {
    const { data, error, response } = await http.client.GET('/v1/events/stream', {
      params: { query },
      headers: resume ? { 'last-event-id': String(position.seq) } : {},
      parseAs: 'stream',
      signal: AbortSignal.any([signal, timeout.signal]),
    });
    if (!response.ok || !data) throw errorFromResponse(response, error);
    return data as ReadableStream<Uint8Array>;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A parsed SSE message as an item to yield, or null: a feed event at or below the last
 * seq (already yielded), a typing signal nobody asked for, the server's `shutdown`,
 * `dropped` and `ended` notices (the stream ends after them; the iterator reconnects).
 */
function toItem(message: EventSourceMessage, position: Position, wantsTyping: boolean): StreamItem | null {
  if (message.id !== undefined && /^\d+$/.test(message.id)) {
    const seq = Number(message.id);
    if (position.seq !== undefined && seq <= position.seq) return null;
    position.seq = seq;
    return JSON.parse(message.data) as Event;
  }
  if (message.event === 'typing' && wantsTyping) return JSON.parse(message.data) as TypingSignal;
  return null;
}

/**
 * The first record of a stream opened at `latest` is an `id:` alone, naming the head it
 * starts from (eventsource-parser dispatches no record without data): kept as the
 * position, so a reconnection before the first event resumes there, not at a later head.
 *
 * @returns the text still to scan, or null once the first record was read.
 */
function readPrologue(text: string, position: Position): string | null {
  const end = text.search(/\r?\n\r?\n/);
  if (end < 0) return text;
  const id = /^id: ?(\d+)\s*$/m.exec(text.slice(0, end));
  if (id && position.seq === undefined) position.seq = Number(id[1]);
  return null;
}

/** One read, failing when nothing arrives within `ms` (the connection is aborted). */
async function readWithin(reader: ReadableStreamDefaultReader<Uint8Array>, ms: number, connection: AbortController): Promise<ReadableStreamReadResult<Uint8Array>> {
  const timer = setTimeout(() => connection.abort(new Error('the stream went silent')), ms);
  try {
    return await reader.read();
  } finally {
    clearTimeout(timer);
  }
}

/** Waits `ms` with ±25 % jitter (so that a node's clients do not reconnect at once); returns early on abort. */
async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  await sleep(Math.round(ms * (0.75 + Math.random() / 2)), signal).catch(() => undefined);
}
