/**
 * The MCP server as an agent client drives it, with the MCP SDK's own `Client`, over both
 * transports against a real server: Streamable HTTP (`POST /mcp` on the server) and stdio
 * (`node bin/switchboard.js mcp`, which needs `dist/`: `npm test` builds it first).
 * Every tool is called; a key scoped to one identity cannot reach another identity's
 * conversation through any tool; API errors are tool errors with `detail` and `fix`.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Switchboard } from '@switchboard/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOL_NAMES } from '../../src/mcp/tools.js';
import { liveServer, rawEmail } from '../helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/switchboard.js');
const HAS_BUILD = fs.existsSync(path.join(ROOT, 'dist/cli/mcp.js'));
const NO_BUILD_REASON = 'dist/cli/mcp.js not found: run `npm run build` first (npm test does); skipping the stdio transport';
if (!HAS_BUILD) console.warn(NO_BUILD_REASON);

/** A conversation id nobody has (well-formed). */
const UNKNOWN_CONVERSATION = 'conv_01h455vb4pex5vsknk084sn02q';

let live: Awaited<ReturnType<typeof liveServer>>;
let baseUrl: string;
let sb: Switchboard;
let identityA: string;
let identityB: string;
let scopedKeyB: string;
/** A's conversation that B's key must not reach, its inbound message, and B's own one. */
let conversationA: string;
let messageA: string;
let conversationB: string;

/** Delivers mail over `POST /v1/inbound/email`; returns the conversation and message it became. */
async function deliver(mail: Parameters<typeof rawEmail>[0]): Promise<{ conversationId: string; messageId: string }> {
  const result = await sb.inbound.email(rawEmail(mail));
  const first = result.results[0]!;
  return { conversationId: first.conversation_id!, messageId: first.message_id! };
}

beforeAll(async () => {
  live = await liveServer({ rateLimitSends: 0 });
  baseUrl = `http://127.0.0.1:${live.server.port}`;
  sb = new Switchboard({ baseUrl, apiKey: live.server.firstRun!.apiKey });
  identityA = (await sb.identities.create({ handle: 'support' })).id;
  await sb.mailboxes.create({ identity_id: identityA, address: 'support@a.test' });
  identityB = (await sb.identities.create({ handle: 'sales' })).id;
  await sb.mailboxes.create({ identity_id: identityB, address: 'sales@b.test' });
  scopedKeyB = (await sb.apiKeys.create({ name: 'sales bot', identity_id: identityB })).key;
  ({ conversationId: conversationA, messageId: messageA } = await deliver({
    from: 'Secret Customer <secret@customer.test>', to: 'support@a.test', subject: 'Private matter', messageId: 'private-1@customer.test', body: 'Only support may read this.',
  }));
  ({ conversationId: conversationB } = await deliver({
    from: 'lead@prospect.test', to: 'sales@b.test', subject: 'Pricing', messageId: 'pricing-1@prospect.test', body: 'What does it cost?',
  }));
});
afterAll(async () => { await live?.close(); });

type Connect = (key: string) => Promise<Client>;

/** A client over Streamable HTTP: `POST /mcp` with the key as a bearer token. */
const httpClient: Connect = async (key) => {
  const client = new Client({ name: 'switchboard-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
  return client;
};

/** A client over stdio: `switchboard mcp` in a child process, given the URL and key by environment. */
const stdioClient: Connect = async (key) => {
  const client = new Client({ name: 'switchboard-test', version: '1.0.0' });
  await client.connect(new StdioClientTransport({
    command: process.execPath, args: [BIN, 'mcp'], cwd: ROOT, stderr: 'pipe',
    env: { PATH: process.env.PATH ?? '', SWITCHBOARD_URL: baseUrl, SWITCHBOARD_API_KEY: key },
  }));
  return client;
};

interface ToolAnswer {
  readonly isError: boolean;
  readonly body: any;
  readonly text: string;
}

/** Calls a tool; its text parsed as JSON (the text itself when it is not JSON). */
async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolAnswer> {
  const result = await client.callTool({ name, arguments: args });
  const text = (result.content as { type: string; text: string }[])[0]!.text;
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* a plain message */ }
  return { isError: result.isError === true, body, text };
}

/** Asserts a tool error carrying the API's problem: code, detail and fix. */
function expectProblem(answer: ToolAnswer, code: string): void {
  expect(answer.isError, answer.text).toBe(true);
  expect(answer.body.error).toMatchObject({ code });
  expect(answer.body.error.detail).toMatch(/\S/);
  expect(answer.body.error.fix).toMatch(/\S/);
}

const TRANSPORTS: [string, Connect, boolean][] = [
  ['streamable HTTP', httpClient, true],
  ['stdio', stdioClient, HAS_BUILD],
];

describe.each(TRANSPORTS)('MCP over %s', (transport, connect, available) => {
  if (!available) {
    it.skip(NO_BUILD_REASON, () => {});
    return;
  }
  let agent: Client;
  let scoped: Client;
  /** This transport's own conversation of identity A, and its inbound message's Message-ID. */
  let conversation: string;
  const tag = transport.replace(/\W/g, '').toLowerCase();
  const originalId = `${tag}-order-42@customer.test`;
  const customer = `ada.${tag}@customer.test`;

  beforeAll(async () => {
    agent = await connect(live.server.firstRun!.apiKey);
    scoped = await connect(scopedKeyB);
    ({ conversationId: conversation } = await deliver({
      from: `Ada <${customer}>`, to: 'support@a.test', subject: 'Order 42', messageId: originalId,
      body: 'Where is my order 42?\n\nOn Mon, 16 Nov 2009 at 09:00, Support <support@a.test> wrote:\n> Your order has shipped.\n> Tracking follows.\n',
    }));
  });
  afterAll(async () => {
    await agent?.close();
    await scoped?.close();
  });

  it('lists exactly the tools, each described with its inputs', async () => {
    const { tools } = await agent.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
    for (const tool of tools) {
      expect(tool.description?.length, tool.name).toBeGreaterThan(60);
      for (const [name, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
        expect((schema as { description?: string }).description, `${tool.name}.${name}`).toMatch(/\S/);
      }
    }
    expect(tools.find((t) => t.name === 'reply')!.inputSchema.required).toEqual(['conversation_id', 'text']);
  });

  it('list_identities gives the identities with their addresses', async () => {
    const { body } = await call(agent, 'list_identities');
    expect(body.identities).toEqual(expect.arrayContaining([
      expect.objectContaining({ id: identityA, handle: 'support', accounts: [expect.objectContaining({ channel: 'email', address: 'support@a.test' })] }),
      expect.objectContaining({ id: identityB, handle: 'sales' }),
    ]));
  });

  it('list_conversations filters by unread and full text, with text previews', async () => {
    const unread = await call(agent, 'list_conversations', { unread: true, identity_id: identityA });
    expect(unread.isError).toBe(false);
    const mine = unread.body.conversations.find((c: { id: string }) => c.id === conversation);
    expect(mine).toMatchObject({ identity_id: identityA, subject: 'Order 42', counterpart: customer, unread_count: 1, latest: { direction: 'inbound' } });
    expect(mine.latest.text).toContain('Where is my order 42?');

    const found = await call(agent, 'list_conversations', { q: 'shipped', limit: 5 });
    expect(found.body.conversations.map((c: { id: string }) => c.id)).toContain(conversation);
    const hit = found.body.conversations.find((c: { id: string }) => c.id === conversation);
    expect(hit.match).toMatch(/shipped/i);
    expect(found.text).not.toMatch(/<mark>/);

    const paged = await call(agent, 'list_conversations', { limit: 1 });
    expect(paged.body.conversations).toHaveLength(1);
    expect(paged.body.has_more).toBe(true);
    const next = await call(agent, 'list_conversations', { limit: 1, cursor: paged.body.next_cursor });
    expect(next.body.conversations[0].id).not.toBe(paged.body.conversations[0].id);
  });

  it('get_conversation gives the summary and the timeline as text, quoted history trimmed, headers only when asked', async () => {
    const { body, text } = await call(agent, 'get_conversation', { conversation_id: conversation });
    expect(body).toMatchObject({ id: conversation, subject: 'Order 42', counterpart: customer, unread_count: 1 });
    expect(body.contact).toMatchObject({ name: 'Ada' });
    expect(body.events).toHaveLength(1);
    expect(body.events[0]).toMatchObject({ type: 'message', direction: 'inbound', from: `Ada <${customer}>`, text: 'Where is my order 42?', quoted_trimmed: true });
    expect(text).not.toContain('Your order has shipped');
    expect(text).not.toMatch(/"html"|"headers"|"authentication"/);

    const latest = await call(agent, 'get_conversation', { conversation_id: conversation, events: 1 });
    expect(latest.body.events).toHaveLength(1);
    expect(latest.body.earlier_events).toBeUndefined();

    const withHeaders = await call(agent, 'get_conversation', { conversation_id: conversation, include_headers: true });
    expect(withHeaders.body.events[0].headers).toMatchObject({ message_id: originalId });
  });

  it('reply sends by conversation id, and the reply is on the timeline', async () => {
    const sent = await call(agent, 'reply', { conversation_id: conversation, text: 'It ships tomorrow.' });
    expect(sent.isError, sent.text).toBe(false);
    expect(sent.body).toMatchObject({ conversation_id: conversation, to: [customer], subject: 'Re: Order 42' });
    expect(sent.body.message_id).toMatch(/^msg_/);
    expect(['queued', 'captured']).toContain(sent.body.status);

    const { body } = await call(agent, 'get_conversation', { conversation_id: conversation, events: 5 });
    const outbound = body.events.filter((e: { type: string; direction?: string }) => e.type === 'message' && e.direction === 'outbound');
    expect(outbound).toEqual([expect.objectContaining({ message_id: sent.body.message_id, text: 'It ships tomorrow.', to: [`Ada <${customer}>`] })]);
  });

  it('mark_read clears the unread count', async () => {
    const { body } = await call(agent, 'mark_read', { conversation_id: conversation });
    expect(body).toEqual({ conversation_id: conversation, updated_count: 1, unread_count: 0 });
    const unread = await call(agent, 'list_conversations', { unread: true, identity_id: identityA });
    expect(unread.body.conversations.map((c: { id: string }) => c.id)).not.toContain(conversation);
  });

  it('add_note, create_suggestion and react land on the timeline', async () => {
    const note = await call(agent, 'add_note', { conversation_id: conversation, text: 'VIP customer.' });
    expect(note.body).toMatchObject({ conversation_id: conversation });
    expect(note.body.note_id).toMatch(/^note_/);

    const suggestion = await call(agent, 'create_suggestion', { conversation_id: conversation, text: 'Anything else?', model: 'test-model' });
    expect(suggestion.body).toMatchObject({ conversation_id: conversation, status: 'pending' });
    expect(suggestion.body.suggestion_id).toMatch(/^sug_/);

    const { body: before } = await call(agent, 'get_conversation', { conversation_id: conversation });
    const inbound = before.events.find((e: { direction?: string }) => e.direction === 'inbound');
    const reaction = await call(agent, 'react', { conversation_id: conversation, message_id: inbound.message_id, reaction: '👍' });
    expect(reaction.body).toMatchObject({ type: 'reaction', conversation_id: conversation, message_id: inbound.message_id, reaction: '👍', removed: false, direction: 'outbound' });

    const { body: after } = await call(agent, 'get_conversation', { conversation_id: conversation });
    const types = after.events.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(['note', 'suggestion_created', 'reaction']));
    expect(after.events.find((e: { type: string }) => e.type === 'note')).toMatchObject({ text: 'VIP customer.' });
    expect(JSON.stringify(after.events)).not.toMatch(/key_id|member_id/);
  });

  it('send_message opens a new conversation', async () => {
    const { body, isError, text } = await call(agent, 'send_message', {
      identity_id: identityA, to: `grace.${tag}@customer.test`, subject: 'Welcome', text: 'Hello Grace.',
    });
    expect(isError, text).toBe(false);
    expect(body.conversation_id).toMatch(/^conv_/);
    expect(body.conversation_id).not.toBe(conversation);
    const { body: opened } = await call(agent, 'get_conversation', { conversation_id: body.conversation_id });
    expect(opened).toMatchObject({ subject: 'Welcome', message_count: 1 });
    expect(opened.events[0]).toMatchObject({ direction: 'outbound', text: 'Hello Grace.' });
  });

  it('wait_for_events returns an empty list and the cursor at the timeout', async () => {
    const started = Date.now();
    const { body } = await call(agent, 'wait_for_events', { timeout_s: 1 });
    expect(body).toMatchObject({ events: [], timed_out: true, has_more: false });
    expect(body.next_after).toBeGreaterThan(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    // Nothing happened since: the same cursor.
    const again = await call(agent, 'wait_for_events', { after: body.next_after, timeout_s: 0 });
    expect(again.body).toMatchObject({ events: [], next_after: body.next_after, timed_out: true });
  });

  it('wait_for_events returns the customer\'s answer as soon as it arrives', async () => {
    const { body: now } = await call(agent, 'wait_for_events', { timeout_s: 0, conversation_id: conversation });
    const started = Date.now();
    const waiting = call(agent, 'wait_for_events', { after: now.next_after, conversation_id: conversation, types: ['message'], timeout_s: 30 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await deliver({
      from: `Ada <${customer}>`, to: 'support@a.test', subject: 'Re: Order 42', messageId: `answer-${originalId}`, inReplyTo: originalId,
      body: 'Great, thanks!\n\n> It ships tomorrow.\n',
    });
    const { body } = await waiting;
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(body.timed_out).toBe(false);
    expect(body.events).toEqual([expect.objectContaining({ type: 'message', conversation_id: conversation, direction: 'inbound', text: 'Great, thanks!' })]);
    expect(body.next_after).toBe(body.events[0].seq);
  });

  it('returns API errors as tool errors with detail and fix', async () => {
    expectProblem(await call(agent, 'get_conversation', { conversation_id: UNKNOWN_CONVERSATION }), 'not_found');
    const noSubject = await call(agent, 'send_message', { identity_id: identityA, to: 'x@customer.test', text: 'No subject' });
    expectProblem(noSubject, 'validation_failed');
    expect(noSubject.body.error.param).toBe('subject');
    expectProblem(await call(agent, 'wait_for_events', { after: 1_000_000_000, timeout_s: 0 }), 'cursor_ahead');
    // Arguments outside the tool's schema are refused by the MCP server itself, as a tool error.
    const invalid = await call(agent, 'list_conversations', { limit: 1000 });
    expect(invalid.isError).toBe(true);
    expect(invalid.text).toMatch(/limit/);
  });

  it('a key scoped to another identity cannot reach the conversation through any tool', async () => {
    for (const [tool, args] of [
      ['get_conversation', { conversation_id: conversationA }],
      ['reply', { conversation_id: conversationA, text: 'Leaked reply' }],
      ['mark_read', { conversation_id: conversationA }],
      ['add_note', { conversation_id: conversationA, text: 'Leaked note' }],
      ['create_suggestion', { conversation_id: conversationA, text: 'Leaked draft' }],
      ['react', { conversation_id: conversationA, message_id: messageA, reaction: '👍' }],
      ['wait_for_events', { conversation_id: conversationA, timeout_s: 0 }],
    ] as const) {
      expectProblem(await call(scoped, tool, args), 'not_found');
    }
    const listed = await call(scoped, 'list_conversations', { limit: 50 });
    const ids = listed.body.conversations.map((c: { id: string }) => c.id);
    expect(ids).toContain(conversationB);
    expect(ids).not.toContain(conversationA);
    expect(ids).not.toContain(conversation);
    const searched = await call(scoped, 'list_conversations', { q: 'private' });
    expect(searched.body.conversations).toEqual([]);
    const identities = await call(scoped, 'list_identities');
    expect(identities.body.identities.map((i: { id: string }) => i.id)).toEqual([identityB]);
    expectProblem(await call(scoped, 'list_conversations', { identity_id: identityA }), 'forbidden_identity');
    expectProblem(await call(scoped, 'send_message', { identity_id: identityA, to: 'x@customer.test', subject: 'Hi', text: 'Hi' }), 'forbidden_identity');
    const feed = await call(scoped, 'wait_for_events', { after: 0, timeout_s: 0, limit: 200 });
    expect(feed.body.events.length).toBeGreaterThan(0);
    expect(feed.body.events.every((e: { conversation_id: string }) => e.conversation_id !== conversationA && e.conversation_id !== conversation)).toBe(true);

    // Nothing was written to A's conversation.
    const snapshot = await sb.conversations.get(conversationA);
    expect(snapshot.events.map((e) => e.type)).toEqual(['message']);
    expect(snapshot.unread_count).toBe(1);
  });
});

describe('get_conversation of a long timeline', () => {
  it('gives the most recent events, oldest first, and says earlier ones exist', async () => {
    // Past the snapshot's first page (100 events), the recent ones are read newest first.
    const { conversationId } = await deliver({ from: 'long@customer.test', to: 'support@a.test', subject: 'Long', messageId: 'long-1@customer.test', body: 'Start.' });
    for (let i = 1; i <= 105; i++) await sb.conversations.addNote(conversationId, { text: `note ${i}` });
    const client = await httpClient(live.server.firstRun!.apiKey);
    try {
      const { body } = await call(client, 'get_conversation', { conversation_id: conversationId, events: 3 });
      expect(body.earlier_events).toBe(true);
      expect(body.events.map((e: { text: string }) => e.text)).toEqual(['note 103', 'note 104', 'note 105']);
      const page = await call(client, 'get_conversation', { conversation_id: conversationId, events: 100 });
      expect(page.body.events).toHaveLength(100);
      expect(page.body.events.at(-1).text).toBe('note 105');
    } finally {
      await client.close();
    }
  });
});

describe('POST /mcp authentication', () => {
  const initialize = JSON.stringify({
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
  });
  const post = (headers: Record<string, string>) => fetch(`${baseUrl}/mcp`, {
    method: 'POST', body: initialize,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
  });

  it('answers 401 problem details with a Bearer challenge without a key', async () => {
    const res = await post({});
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="switchboard"$/);
    expect(await res.json()).toMatchObject({ code: 'unauthenticated', status: 401 });
  });

  it('answers 401 invalid_token with a refused key, and the MCP client fails to connect', async () => {
    const res = await post({ authorization: 'Bearer sb_key_wrong' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    await expect(httpClient('sb_key_wrong')).rejects.toThrow();
  });

  it('initializes with a valid key, and answers 405 to GET and DELETE (stateless)', async () => {
    const key = live.server.firstRun!.apiKey;
    const res = await post({ authorization: `Bearer ${key}` });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/"serverInfo":\{"name":"switchboard"/);
    for (const method of ['GET', 'DELETE']) {
      const other = await fetch(`${baseUrl}/mcp`, { method, headers: { authorization: `Bearer ${key}` } });
      expect(other.status, method).toBe(405);
      expect(other.headers.get('allow')).toBe('POST');
    }
  });

  it('answers malformed requests with a 4xx, never a 5xx', async () => {
    const key = live.server.firstRun!.apiKey;
    const send = (body: string, headers: Record<string, string> = {}) => fetch(`${baseUrl}/mcp`, {
      method: 'POST', body,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    });
    expect((await send('{"jsonrpc":')).status).toBe(400);
    expect((await send('{"not":"json-rpc"}')).status).toBe(400);
    expect((await send(initialize, { accept: 'text/html' })).status).toBe(406);
    expect((await send(initialize, { 'content-type': 'text/plain' })).status).toBe(415);
  });

  it('ends a wait whose client went away, and keeps serving', async () => {
    const key = live.server.firstRun!.apiKey;
    const client = await httpClient(key);
    const gone = new AbortController();
    const waiting = client.callTool({ name: 'wait_for_events', arguments: { timeout_s: 30 } }, undefined, { signal: gone.signal }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    gone.abort();
    expect(await waiting).toBeInstanceOf(Error);
    await client.close();
    const again = await httpClient(key);
    expect((await call(again, 'list_identities')).isError).toBe(false);
    await again.close();
  });

  it('is left out of the OpenAPI document', async () => {
    const doc = await (await fetch(`${baseUrl}/openapi.json`)).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).not.toContain('/mcp');
  });
});

describe.skipIf(!HAS_BUILD)('switchboard mcp (command line)', () => {
  it('needs a URL and a key, and says so on stderr only', () => {
    const run = spawnSync(process.execPath, [BIN, 'mcp'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/--url/);
  });

  it('writes only JSON-RPC messages to stdout, and exits when the client closes stdin', async () => {
    const child = spawn(process.execPath, [BIN, 'mcp', '--url', baseUrl, '--api-key', live.server.firstRun!.apiKey], {
      cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`);
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'list_identities', arguments: {} } });
    for (let waited = 0; !stdout.includes('"id":2') && waited < 20_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    child.stdin.end();
    expect(await exited).toBe(0);
    const messages = stdout.trim().split('\n').map((line) => JSON.parse(line) as { jsonrpc: string; id?: number; result?: { content?: { text: string }[] } });
    expect(messages.map((m) => [m.jsonrpc, m.id])).toEqual([['2.0', 1], ['2.0', 2]]);
    expect(JSON.parse(messages[1]!.result!.content![0]!.text).identities.map((i: { handle: string }) => i.handle).sort()).toEqual(['sales', 'support']);
  });
});
