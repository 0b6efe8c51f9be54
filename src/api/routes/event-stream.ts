/**
 * The live stream `GET /v1/events/stream`: the change feed as Server-Sent Events (WHATWG
 * HTML, "Server-sent events"). Each event goes out as `id: <seq>`, `event: <type>`,
 * `data: <event JSON>`. A client that reconnects with `Last-Event-ID` (or `?after=`)
 * first gets what it missed, then what is new. Without either, the stream starts at 0:
 * the organization's whole feed is replayed first (`?after=latest`: from the head, only
 * what commits from then on). A position beyond the head is a `409 cursor_ahead`.
 *
 * The stream reads the feed in seq order (services/live-feed.ts: one shared reader per
 * organization, so a commit costs one query however many subscribers) and waits for a
 * commit notification (this node, or another through the store) or the heartbeat
 * interval before reading again. It holds no queue per client: a slow client only
 * makes it read later. A client that has
 * not taken what was written for `streamSlowClientMs` (30 s) gets a final `dropped` event and
 * is disconnected; it resumes from its last id. When the server shuts down, every stream gets
 * a final `shutdown` event, with a `retry:` of one to five seconds (spread, so that the
 * clients of a node do not all reconnect at once), and is closed: an EventSource reconnects
 * by itself, to another node behind a load balancer, and resumes from its last id.
 *
 * A stream lives longer than the credential it was opened with may: the key or session is
 * checked again before each batch of events read for it is written (after the read: an
 * event the read saw committed after the revocation did, so the check sees the
 * revocation and the event is never sent), before each typing signal, and at every
 * heartbeat. Once the key is
 * revoked, the session ends, the member is removed, or the principal's identity scope or
 * `events:read` changes, the stream gets a final `ended` event (`reason:
 * "credentials_changed"`, `resume_after`) and is closed: a reconnection is then
 * authenticated afresh (a 401, or a stream of the new scope). The check is one
 * primary-key read per batch and subscriber (a key's row is reread only when its
 * organization's state changed).
 */
import type { ServerResponse } from 'node:http';
import Type from 'typebox';
import { AppError } from '../../errors.js';
import { isId } from '../../ids.js';
import { LiveFeed, type FeedItem } from '../../services/live-feed.js';
import { principalOf } from '../auth.js';
import { visibleConversation } from '../scope.js';
import type { EventType as EventTypeName } from '../../domain/events.js';
import { EventType, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';
import { assertCursorKnown, FeedCursor } from './events.js';
import { headSeq } from '../../store/sequences.js';

/** Events read from the store per query. */
const READ_BATCH = 200;

const StreamQuery = Type.Object({
  after: Type.Optional(FeedCursor('start after this seq (Last-Event-ID wins); `latest`: only events committed from now on. Default 0: the whole feed is replayed first')),
  types: Type.Optional(Type.Array(Type.Union([EventType, Type.Literal('typing')]), { description: 'only these types; `typing` for typing indicators' })),
  conversation_id: Type.Optional(Type.String({ maxLength: 100 })),
});

/** The final event of a stream the server closes as it shuts down: reconnect in 1 to 5 s and resume after `after`. */
export function shutdownEvent(after: number): string {
  const retryMs = 1_000 + Math.floor(Math.random() * 4_000);
  return `event: shutdown\nretry: ${retryMs}\ndata: ${JSON.stringify({ reason: 'server_shutdown', resume_after: after })}\n\n`;
}

/**
 * An event's SSE frame (`id:`, `event:`, `data:`), encoded once and written as the same
 * bytes to every stream it goes to.
 */
const frames = new WeakMap<FeedItem, Buffer>();
function frameOf(item: FeedItem): Buffer {
  let frame = frames.get(item);
  if (!frame) {
    frame = Buffer.from(`id: ${item.event.seq}\nevent: ${item.event.type}\ndata: ${item.json}\n\n`);
    frames.set(item, frame);
  }
  return frame;
}

/** Resolves true once `res` has flushed what it holds, false after `ms` or when it closes. */
function drained(res: ServerResponse, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

export function eventStreamRoutes(app: Api, { store, config, metrics }: ApiContext): void {
  const { streamHeartbeatMs: heartbeatMs, streamSlowClientMs: slowClientMs } = config;
  const live = new LiveFeed(store);
  /** The open streams' stops; `shutdown` ends the stream with its final event. */
  const open = new Set<(shutdown?: boolean) => void>();
  let shuttingDown = false;
  // preClose: before the server waits for its connections to end, end the streams.
  app.addHook('preClose', async () => {
    shuttingDown = true;
    for (const stop of open) stop(true);
  });

  app.get('/v1/events/stream', {
    config: { permission: 'events:read' },
    schema: {
      tags: ['events'], summary: 'Live stream of the change feed (Server-Sent Events)', querystring: StreamQuery,
      produces: ['text/event-stream'], response: { 400: Problem, 401: Problem, 409: Problem },
    },
  }, async (request, reply) => {
    const principal = principalOf(request);
    const { orgId } = principal;
    const header = request.headers['last-event-id'];
    const lastEventId = Array.isArray(header) ? header[0] : header;
    if (lastEventId !== undefined && !/^\d{1,15}$/.test(lastEventId.trim())) {
      throw new AppError('validation_failed', 'Last-Event-ID must be the seq of an event.', { param: 'Last-Event-ID' });
    }
    const { conversation_id: conversationId } = request.query;
    const asked = request.query.after;
    let after = lastEventId !== undefined ? Number(lastEventId.trim()) : asked === 'latest' ? await headSeq(store.db, orgId) : asked ?? 0;
    // Before the stream starts: a cursor from a reset store is a 409, not a silent wait.
    await assertCursorKnown(store.db, orgId, after, lastEventId !== undefined ? 'Last-Event-ID' : 'after');
    const wanted = request.query.types;
    const types = wanted?.filter((t): t is EventTypeName => t !== 'typing');
    const wantsTyping = wanted === undefined || wanted.length === 0 || wanted.includes('typing');
    const matchesNothing = (conversationId !== undefined && !isId('conv', conversationId)) || (wanted !== undefined && wanted.length > 0 && types!.length === 0);

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // From `latest`, an `id:` alone sets the EventSource's last event id to the head, so a
    // reconnection before the first event resumes there rather than at the new head.
    res.write(asked === 'latest' && lastEventId === undefined ? `retry: 2000\nid: ${after}\n\n` : 'retry: 2000\n\n');

    let closed = false;
    let committed = false;
    let wake: (() => void) | null = null;
    // Every write below checks `closed` first: nothing is written after this end.
    const stop = (shutdown = false) => {
      if (shutdown && !closed && !res.writableEnded) res.end(shutdownEvent(after));
      closed = true;
      wake?.();
    };
    open.add(stop);
    res.on('close', () => stop());
    if (shuttingDown) stop(true);
    const feed = live.subscribe(orgId, () => {
      committed = true;
      wake?.();
    });
    const filter = { types, conversationId, identityId: principal.identityId ?? undefined };
    // A scoped key gets typing signals only for conversations it can see (looked up once each).
    const visible = new Map<string, boolean>();
    const canSeeSignal = async (id: string) => {
      if (principal.identityId === null) return true;
      if (!visible.has(id)) visible.set(id, await visibleConversation(store.db, principal, id).then(() => true, () => false));
      return visible.get(id)!;
    };
    /** Whether the stream's credential still grants what it was opened with. */
    const stillGranted = async (): Promise<boolean> => {
      const now = await request.reauthenticate!().catch((err: unknown) => {
        if (err instanceof AppError) return null;
        throw err;
      });
      return now !== null && now.orgId === orgId && now.identityId === principal.identityId && now.permissions.has('events:read');
    };
    /** Ends the stream of a credential that no longer grants it, with a final `ended` event. */
    const endRevoked = () => {
      if (!closed && !res.writableEnded) res.end(`event: ended\ndata: ${JSON.stringify({ reason: 'credentials_changed', resume_after: after })}\n\n`);
      stop();
    };
    // Typing indicators go out as they come, without an `id:` (nothing to resume), and
    // are dropped rather than queued when the client is behind.
    const stopSignals = store.commits.onSignal(orgId, (payload) => {
      if (closed || !wantsTyping || res.writableNeedDrain) return;
      const signalConversation = (JSON.parse(payload) as { conversation_id?: string }).conversation_id ?? '';
      if (conversationId !== undefined && signalConversation !== conversationId) return;
      void (async () => {
        if (!(await stillGranted())) return endRevoked();
        if (await canSeeSignal(signalConversation) && !closed && !res.writableNeedDrain) res.write(`event: typing\ndata: ${payload}\n\n`);
      })().catch((err: unknown) => request.log.error({ err }, 'typing signal not sent'));
    });
    metrics.streamSubscribers.inc();
    try {
      let heartbeat = false;
      while (!closed) {
        committed = false;
        const { items, through } = matchesNothing ? { items: [], through: after } : await feed.read(after, READ_BATCH, filter);
        if ((items.length > 0 || heartbeat) && !(await stillGranted())) {
          endRevoked();
          return;
        }
        heartbeat = false;
        for (const item of items) {
          if (closed) break;
          after = item.event.seq;
          if (!res.write(frameOf(item)) && !(await drained(res, slowClientMs))) {
            if (!closed) res.end(`event: dropped\ndata: ${JSON.stringify({ reason: 'slow_client', resume_after: after })}\n\n`);
            metrics.streamDrops.inc();
            return;
          }
        }
        if (closed) break;
        after = through;
        if (items.length === READ_BATCH || committed) continue;
        const timedOut = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), heartbeatMs);
          wake = () => {
            clearTimeout(timer);
            resolve(false);
          };
        });
        wake = null;
        if (timedOut && !closed) {
          res.write(': heartbeat\n\n');
          feed.poll();
          heartbeat = true;
        }
      }
    } catch (err) {
      request.log.error({ err }, 'event stream failed');
    } finally {
      feed.close();
      stopSignals();
      open.delete(stop);
      metrics.streamSubscribers.dec();
      if (!res.writableEnded) res.end();
    }
  });
}
