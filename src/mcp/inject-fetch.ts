/**
 * A `fetch` that answers from the app itself (`app.inject`), for the SDK client the MCP
 * route gives its tools: each tool call is then one or more ordinary API requests, with
 * the caller's key, through every hook a request over the network goes through
 * (authentication, permissions, identity scope, rate limits, idempotency, validation),
 * without a socket or a second TLS hop.
 */
import type { FastifyInstance } from 'fastify';

/** What the injected requests carry of the outer request. */
export interface InjectFetchOptions {
  /** The client's address, so that per-address limits and logs name the real caller. */
  readonly remoteAddress: string;
}

/** Statuses whose answer has no body (a `Response` refuses one). */
const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * A `fetch` over `app.inject`. The request's URL only gives the path and query (its
 * origin is ignored); its method, headers and body are passed on as they are. The
 * request's signal is not honoured once the request is injected (an injected request
 * cannot be cut); it is checked before.
 *
 * @param app the app to answer from (ready, or made ready by the first request).
 * @returns a function with `fetch`'s signature.
 */
export function injectFetch(app: FastifyInstance, options: InjectFetchOptions): typeof globalThis.fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    request.signal.throwIfAborted();
    const url = new URL(request.url);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const res = await app.inject({
      method: request.method as 'GET',
      url: `${url.pathname}${url.search}`,
      headers: Object.fromEntries(request.headers),
      ...(body ? { payload: body } : {}),
      remoteAddress: options.remoteAddress,
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue;
      for (const v of [value].flat()) headers.append(name, String(v));
    }
    return new Response(NO_BODY.has(res.statusCode) ? null : new Uint8Array(res.rawPayload), { status: res.statusCode, headers });
  };
}
