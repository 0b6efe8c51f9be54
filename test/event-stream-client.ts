/**
 * A test client of `GET /v1/events/stream` over a real socket: the messages so far, a wait
 * for the n-th, whether the server ended the stream, and a way to hang up.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface StreamClient {
  readonly res: Response;
  readonly messages: EventSourceMessage[];
  readonly comments: string[];
  /** Resolves the first `n` messages; throws after `ms` without them. */
  waitFor(n: number, ms?: number): Promise<EventSourceMessage[]>;
  /** Resolves true once the server has ended the response, false after `ms`. */
  ended(ms?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Opens the stream at `url` with `headers` (a key's `authorization`, or a session's `cookie`). */
export async function openEventStream(url: string, headers: Record<string, string>): Promise<StreamClient> {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  const messages: EventSourceMessage[] = [];
  const comments: string[] = [];
  let notify = () => {};
  let done = false;
  const parser = createParser({ onEvent: (m) => { messages.push(m); notify(); }, onComment: (c) => { comments.push(c); } });
  const pump = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch { /* aborted */ }
    done = true;
    notify();
  })();
  const until = async (ready: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (Date.now() > deadline) return false;
      await new Promise<void>((resolve) => { notify = resolve; setTimeout(resolve, 50); });
    }
    return true;
  };
  return {
    res, messages, comments,
    async waitFor(n, ms = 5_000) {
      if (!(await until(() => messages.length >= n, ms))) throw new Error(`expected ${n} events, got ${messages.length}`);
      return messages.slice(0, n);
    },
    ended: (ms = 5_000) => until(() => done, ms),
    async close() { controller.abort(); await pump; },
  };
}
