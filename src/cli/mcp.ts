/**
 * `switchboard mcp`: the MCP server over stdio, for desktop agent clients that start
 * their servers as commands (MCP specification, "Transports": stdio). The tools
 * (mcp/tools.ts) call a remote Switchboard server through the SDK with the given key.
 *
 * stdout carries MCP JSON-RPC messages only: nothing else may be written to it (the
 * client would read it as a broken message); diagnostics go to stderr.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Switchboard } from '@switchboard/sdk';
import { createMcpServer } from '../mcp/tools.js';

export interface McpCommandOptions {
  /** The server's URL, e.g. `http://localhost:8080`. */
  readonly url: string;
  /** The API key the tools act with. */
  readonly apiKey: string;
}

/**
 * Serves the tools on stdin/stdout until stdin closes (the client ends the session).
 *
 * @throws TypeError when the URL is not an http(s) URL.
 */
export async function runMcp(options: McpCommandOptions): Promise<void> {
  const url = new URL(options.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`--url must be an http(s) URL, not ${options.url}`);
  const sb = new Switchboard({ baseUrl: url.toString(), apiKey: options.apiKey });
  const closing = new AbortController();
  const server = createMcpServer(sb, { signal: closing.signal });
  const transport = new StdioServerTransport();
  transport.onclose = () => closing.abort();
  await server.connect(transport);
  // The client ends the session by closing our stdin.
  process.stdin.once('end', () => {
    closing.abort();
    void server.close();
  });
}
