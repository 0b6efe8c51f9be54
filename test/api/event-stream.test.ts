/**
 * The live stream `GET /v1/events/stream` over a real socket: replay then live events,
 * reconnecting with Last-Event-ID gets exactly what was missed, in order; filters; bad
 * positions are a 400 before any stream starts; typing indicators; heartbeats; a client
 * that stops reading is dropped with a final event and resumes without a gap.
 */
import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEventStream } from '../event-stream-client.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let base: string;
let conv: string;
beforeAll(async () => {
  h = await harness({ streamHeartbeatMs: 150, streamSlowClientMs: 300 });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const address = h.app.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  await identityWithMailbox(h, 'live@shop.test', 'live');
  const res = await inbound(h, rawEmail({ from: 'l@x.test', to: 'live@shop.test', messageId: 'live1@x.test' }));
  conv = res.body.results[0].conversation_id;
});
afterAll(async () => { await h.close(); });

/** An open stream, authenticated by the organization's key. */
const connect = (query = '', headers: Record<string, string> = {}) =>
  openEventStream(`${base}/v1/events/stream${query}`, { authorization: `Bearer ${h.key}`, ...headers });

/** The organization's latest seq, read through the change feed. */
async function latestSeq(): Promise<number> {
  let after = 0;
  for (;;) {
    const page = (await h.request('GET', `/v1/events?after=${after}&limit=200`)).body;
    after = page.next_after;
    if (!page.has_more) return after;
  }
}

const label = (l: string) => h.request('POST', `/v1/conversations/${conv}/labels`, { labels: [l] });

describe('live stream', () => {
  it('replays from the start, then sends new events as they commit', async () => {
    const s = await connect();
    expect(s.res.status).toBe(200);
    expect(s.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const [first] = await s.waitFor(1);
    expect(first!.event).toBe('message');
    expect(JSON.parse(first!.data)).toMatchObject({ type: 'message', conversation_id: conv, seq: Number(first!.id) });
    await label('live-a');
    const [, second] = await s.waitFor(2);
    expect(second!.event).toBe('label_added');
    expect(JSON.parse(second!.data).data.label).toBe('live-a');
    expect(Number(second!.id)).toBeGreaterThan(Number(first!.id));
    await s.close();
  });

  it('resumes with Last-Event-ID: exactly the missed events, in order', async () => {
    const s = await connect();
    const seen = await s.waitFor((await h.request('GET', '/v1/events?limit=200')).body.data.length);
    const lastId = seen.at(-1)!.id!;
    await s.close();
    for (const l of ['gone-1', 'gone-2', 'gone-3']) await label(l);
    const again = await connect('', { 'last-event-id': lastId });
    const missed = await again.waitFor(3);
    expect(missed.map((m) => JSON.parse(m.data).data.label)).toEqual(['gone-1', 'gone-2', 'gone-3']);
    const ids = missed.map((m) => Number(m.id));
    expect(ids).toEqual([Number(lastId) + 1, Number(lastId) + 2, Number(lastId) + 3]);
    await new Promise((r) => setTimeout(r, 200));
    expect(again.messages).toHaveLength(3); // nothing repeated
    await again.close();
  });

  it('applies the feed filters', async () => {
    const s = await connect('?types=label_added&after=0');
    await label('filtered');
    const all = (await h.request('GET', '/v1/events?types=label_added&limit=200')).body.data;
    const got = await s.waitFor(all.length);
    expect(got.every((m) => m.event === 'label_added')).toBe(true);
    expect(got.map((m) => m.id)).toEqual(all.map((e: any) => String(e.seq)));
    expect(JSON.parse(got.at(-1)!.data).data.label).toBe('filtered');
    await s.close();
  });

  it('refuses a bad position before streaming', async () => {
    for (const [query, headers] of [['?after=-1', {}], ['', { 'last-event-id': 'abc' }], ['?types=nope', {}]] as const) {
      const res = await fetch(`${base}/v1/events/stream${query}`, { headers: { authorization: `Bearer ${h.key}`, ...headers } });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((await res.json()).code).toBe('validation_failed');
    }
    const anon = await fetch(`${base}/v1/events/stream`);
    expect(anon.status).toBe(401);
  });

  it('refuses a position beyond the head with 409 cursor_ahead before streaming', async () => {
    const head = await latestSeq();
    for (const [query, headers, param] of [
      [`?after=${head + 1}`, {}, 'after'],
      ['', { 'last-event-id': String(head + 1000) }, 'Last-Event-ID'],
      ['?after=0', { 'last-event-id': String(head + 1) }, 'Last-Event-ID'],
    ] as const) {
      const res = await fetch(`${base}/v1/events/stream${query}`, { headers: { authorization: `Bearer ${h.key}`, ...headers } });
      expect(res.status).toBe(409);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ code: 'cursor_ahead', param });
    }
  });

  it('starts at the head with after=latest: an id first, then only what commits from then on', async () => {
    const head = await latestSeq();
    const raw: string[] = [];
    const controller = new AbortController();
    const res = await fetch(`${base}/v1/events/stream?after=latest`, { headers: { authorization: `Bearer ${h.key}` }, signal: controller.signal });
    const reader = (async () => {
      try { for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) raw.push(Buffer.from(chunk).toString()); } catch { /* aborted */ }
    })();
    await new Promise((r) => setTimeout(r, 100));
    await label('after-latest');
    const deadline = Date.now() + 5_000;
    while (!raw.join('').includes('after-latest') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    await reader;
    const text = raw.join('');
    expect(text.startsWith(`retry: 2000\nid: ${head}\n\n`)).toBe(true);
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual([head, head + 1]);
    expect(text).toContain('after-latest');
  });

  it('sends typing indicators live, without an id, to subscribers whose filters match', async () => {
    const all = await connect('?after=latest');
    const typingOnly = await connect('?types=typing');
    const messagesOnly = await connect('?types=message&after=latest');
    const otherConv = await connect('?conversation_id=conv_01h455vb4pex5vsknk084sn02q');
    await new Promise((r) => setTimeout(r, 100));
    const res = await h.request('POST', `/v1/conversations/${conv}/typing`, { state: 'started' });
    expect(res.status).toBe(202);
    const [t] = await all.waitFor(1);
    expect(t!.event).toBe('typing');
    expect(t!.id).toBeUndefined();
    expect(JSON.parse(t!.data)).toMatchObject({ type: 'typing', conversation_id: conv, state: 'started', direction: 'outbound' });
    expect((await typingOnly.waitFor(1))[0]!.event).toBe('typing');
    await h.request('POST', `/v1/conversations/${conv}/typing`); // no body: started
    await all.waitFor(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(messagesOnly.messages).toEqual([]);
    expect(otherConv.messages.filter((m) => m.event === 'typing')).toEqual([]);
    // never stored
    expect((await h.request('GET', `/v1/conversations/${conv}/events?limit=200`)).body.data.some((e: any) => e.type === 'typing')).toBe(false);
    expect((await h.request('POST', '/v1/conversations/conv_01h455vb4pex5vsknk084sn02q/typing', {})).status).toBe(404);
    expect((await h.request('POST', `/v1/conversations/${conv}/typing`, { state: 'maybe' })).status).toBe(400);
    for (const s of [all, typingOnly, messagesOnly, otherConv]) await s.close();
  });

  it('sends a heartbeat comment when nothing else was sent for the heartbeat interval', async () => {
    const s = await connect('?after=latest');
    await new Promise((r) => setTimeout(r, 500));
    expect(s.comments.filter((c) => c.trim() === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    expect(s.messages).toEqual([]);
    await s.close();
  });

  it('drops a client that stops reading with a final event, and it resumes from there without a gap', async () => {
    // About 12 MB of events, more than the socket buffers hold.
    const start = (await h.request('GET', '/v1/events?after=0&limit=200')).body;
    let after = start.next_after;
    for (let more = start; more.has_more; more = (await h.request('GET', `/v1/events?after=${after}&limit=200`)).body) after = more.next_after;
    const big = 'x'.repeat(200_000);
    for (let i = 0; i < 60; i++) {
      await inbound(h, rawEmail({ from: `bulk${i}@x.test`, to: 'live@shop.test', messageId: `bulk${i}@x.test`, body: big }));
    }
    const expected = (await h.request('GET', `/v1/events?after=${after}&limit=200`)).body.data.map((e: any) => e.seq);
    expect(expected.length).toBeGreaterThanOrEqual(60);

    const text = await new Promise<string>((resolve, reject) => {
      const req = http.get(`${base}/v1/events/stream?after=${after}`, { headers: { authorization: `Bearer ${h.key}` } }, (res) => {
        res.pause(); // a client that does not read
        setTimeout(() => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c) => { body += c; });
          res.on('end', () => resolve(body));
          res.resume();
        }, 1_500);
      });
      req.on('error', reject);
    });
    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (m) => events.push(m) });
    parser.feed(text);
    const last = events.at(-1)!;
    expect(last.event).toBe('dropped');
    const dropped = JSON.parse(last.data);
    expect(dropped.reason).toBe('slow_client');
    const got = events.filter((m) => m.id !== undefined).map((m) => Number(m.id));
    expect(got.length).toBeLessThan(expected.length); // it was cut off
    expect(dropped.resume_after).toBe(got.at(-1) ?? after);
    expect(got).toEqual(expected.slice(0, got.length));

    const rest = await connect('', { 'last-event-id': String(dropped.resume_after) });
    const resumed = await rest.waitFor(expected.length - got.length, 15_000);
    expect([...got, ...resumed.map((m) => Number(m.id))]).toEqual(expected);
    await rest.close();
  });

  it('ends open streams when the server closes, so closing does not wait for clients', async () => {
    const other = await harness();
    await other.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (other.app.server.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/v1/events/stream`, { headers: { authorization: `Bearer ${other.key}` } });
    expect(res.status).toBe(200);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await res.text()).toMatch(/^retry: /); // the stream ended
  });
});
