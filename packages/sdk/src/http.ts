/**
 * The transport every resource calls through: an `openapi-fetch` client typed by the
 * generated `paths`, wrapped in one retry loop. A write (any method but GET and HEAD)
 * gets an `Idempotency-Key` once per call, sent again on every retry; an attempt is
 * retried on a network failure or timeout, a 429 (after `Retry-After`) and any answer
 * the server marks `retryable` (a 502 `upstream_failed`, a 503, a request still in
 * progress), at most `maxRetries` times.
 */
import createClient, { type Client } from 'openapi-fetch';
import { connectionError, errorFromResponse, SwitchboardError } from './errors.js';
import type { paths } from './generated/openapi.js';
import { retryDelay, sleep } from './retry.js';
import type { RequestOptions } from './types.js';

/** What the transport is built with (the client's options, resolved). */
export interface HttpConfig {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly maxRetries: number;
  readonly timeoutMs: number;
  readonly fetch: typeof globalThis.fetch;
}

/** What each attempt passes to the typed call: headers and the attempt's signal. */
export interface AttemptInit {
  readonly headers: Record<string, string>;
  readonly signal: AbortSignal;
}

/** What an `openapi-fetch` call resolves to. */
export interface FetchResult {
  readonly data?: unknown;
  readonly error?: unknown;
  readonly response: Response;
}

/** The success data of an `openapi-fetch` result. */
export type DataOf<R> = R extends { data: infer D } ? D : never;

/** The typed client of the API. */
export type ApiClient = Client<paths>;

export class Http {
  /** Typed calls by path and method (`openapi-fetch`); no retries of its own. */
  readonly client: ApiClient;
  readonly config: HttpConfig;

  constructor(config: HttpConfig) {
    this.config = config;
    this.client = createClient<paths>({
      baseUrl: config.baseUrl,
      headers: { authorization: `Bearer ${config.apiKey}` },
      // Late-bound, so that a fetch replaced after construction (tests, polyfills) is used.
      fetch: (request: Request) => config.fetch(request),
    });
  }

  /**
   * Runs one call with retries.
   *
   * @param write whether the call writes (it gets an `Idempotency-Key`).
   * @param send the typed call, given each attempt's headers and signal.
   * @returns the success data.
   * @throws SwitchboardError the last attempt's failure (a subclass per status family;
   *   `ConnectionError` when no answer came); the signal's reason when the caller aborts.
   */
  async call<R extends FetchResult>(write: boolean, send: (init: AttemptInit) => Promise<R>, options: RequestOptions = {}): Promise<DataOf<R>> {
    const headers: Record<string, string> = write ? { 'idempotency-key': options.idempotencyKey ?? crypto.randomUUID() } : {};
    const maxRetries = options.maxRetries ?? this.config.maxRetries;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#attempt(send, headers, options);
      if (!(outcome instanceof SwitchboardError)) return outcome.data as DataOf<R>;
      const wait = retryDelay(outcome, attempt, maxRetries);
      if (wait === null) throw outcome;
      await sleep(wait, options.signal);
    }
  }

  /** One attempt: its data, or the error it ended with. */
  async #attempt<R extends FetchResult>(send: (init: AttemptInit) => Promise<R>, headers: Record<string, string>, options: RequestOptions): Promise<SwitchboardError | { data: unknown }> {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.config.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    try {
      const result = await send({ headers, signal });
      return result.response.ok ? { data: result.data } : errorFromResponse(result.response, result.error);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      return connectionError(err, timeout.aborted);
    }
  }
}
