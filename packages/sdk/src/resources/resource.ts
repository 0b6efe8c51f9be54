/**
 * The base of every resource (`sb.conversations`, `sb.messages`, …): typed calls through
 * the shared transport, reads without and writes with an `Idempotency-Key`.
 */
import type { ApiClient, AttemptInit, DataOf, FetchResult, Http } from '../http.js';
import type { RequestOptions } from '../types.js';

export abstract class Resource {
  protected readonly http: Http;

  constructor(http: Http) {
    this.http = http;
  }

  /** The typed `openapi-fetch` client. */
  protected get api(): ApiClient {
    return this.http.client;
  }

  /** A read (GET), retried on transient failures. @throws SwitchboardError */
  protected read<R extends FetchResult>(send: (init: AttemptInit) => Promise<R>, options?: RequestOptions): Promise<DataOf<R>> {
    return this.http.call(false, send, options);
  }

  /** A write, with an `Idempotency-Key` reused across its retries. @throws SwitchboardError */
  protected write<R extends FetchResult>(send: (init: AttemptInit) => Promise<R>, options?: RequestOptions): Promise<DataOf<R>> {
    return this.http.call(true, send, options);
  }
}
