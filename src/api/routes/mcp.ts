/**
 * The MCP server over Streamable HTTP (MCP specification 2025-03-26 and later,
 * "Transports"): `POST /mcp`, stateless (no `Mcp-Session-Id`; each request gets a fresh
 * server and transport, so any node of a cluster answers any request).
 *
 * Authentication is the API's: the API key as a bearer token (`apiKeyAuth`, auth.ts), a
 * missing or refused key a `401` problem with `WWW-Authenticate: Bearer`. The tools
 * (mcp/tools.ts) act through an SDK client whose `fetch` injects each API call into this
 * app with the caller's key and address, so every check of the API (permissions,
 * identity scope, rate limits, idempotency) applies to every tool call.
 *
 * Only POST: a stateless server has no stream of its own to offer on GET and no session
 * to end on DELETE, so those are `405` (with `Allow: POST`), which clients expect.
 */
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Switchboard } from '@switchboard/sdk';
import type { FastifyRequest } from 'fastify';
import { injectFetch } from '../../mcp/inject-fetch.js';
import { createMcpServer } from '../../mcp/tools.js';
import type { Api, ApiContext } from '../app.js';

/** The origin the in-process SDK client names (only the path of its URLs is used). */
const IN_PROCESS_ORIGIN = 'http://switchboard.internal';

/** The outer request as a web `Request` (its body is passed parsed, separately). */
function webRequest(request: FastifyRequest): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    for (const v of [value].flat()) headers.append(name, v);
  }
  return new Request(`${IN_PROCESS_ORIGIN}${request.url}`, { method: request.method, headers });
}

/** Registers `POST /mcp`. */
export function mcpRoutes(app: Api, _ctx: ApiContext): void {
  // Aborted when the app closes: waits (`wait_for_events`) end rather than hold shutdown up.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  app.post('/mcp', {
    config: { apiKeyAuth: true },
    schema: { hide: true },
  }, async (request, reply) => {
    // Authenticated already (auth.ts), so the header holds a valid key.
    const apiKey = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')![1]!;
    const sb = new Switchboard({ baseUrl: IN_PROCESS_ORIGIN, apiKey, fetch: injectFetch(app, { remoteAddress: request.ip }) });
    const gone = new AbortController();
    const server = createMcpServer(sb, { signal: AbortSignal.any([closing.signal, gone.signal]) });
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    reply.raw.once('close', () => {
      gone.abort();
      void server.close();
    });
    const response = await transport.handleRequest(webRequest(request), { parsedBody: request.body });
    return reply.send(response);
  });
}
