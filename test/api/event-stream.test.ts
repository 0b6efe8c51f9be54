/**
 * The live stream `GET /v1/events/stream` over a real socket: replay then live events,
 * reconnecting with Last-Event-ID gets exactly what was missed, in order; filters; bad
 * positions are a 400 before any stream starts.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let base: string;
let conv: string;
beforeAll(async () => {
  h = await harness();
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const address = h.app.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  await identityWithMailbox(h, 'live@shop.test', 'live');
  const res = await inbound(h, rawEmail({ from: 'l@x.test', to: 'live@shop.test', messageId: 'live1@x.test' }));
  conv = res.body.results[0].conversation_id;
});
afterAll(async () => { await h.close(); });

/** An open stream: its messages so far, a wait for the n-th, and a way to hang up. */
async function connect(query = '', headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const res = await fetch(`${base}/v1/events/stream${query}`, { headers: { authorization: `Bearer ${h.key}`, ...headers }, signal: controller.signal });
  const messages: EventSourceMessage[] = [];
  let notify = () => {};
  const parser = createParser({ onEvent: (m) => { messages.push(m); notify(); } });
  const pump = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch { /* aborted */ }
  })();
  return {
    res, messages,
    async waitFor(n: number, ms = 5_000) {
      const deadline = Date.now() + ms;
      while (messages.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} events, got ${messages.length}`);
        await new Promise<void>((resolve) => { notify = resolve; setTimeout(resolve, 50); });
      }
      return messages.slice(0, n);
    },
    async close() { controller.abort(); await pump; },
  };
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
});
