/**
 * The change feed (SPEC section 6): `GET /v1/events?after=<seq>`, every event of the
 * organization in commit order. Complete and resumable: a client stores `next_after`
 * and asks again with it; no event committed later can have a smaller `seq`
 * (store/sequences.ts), so nothing is skipped or repeated. A key scoped to an identity
 * gets only that identity's conversations' events (blocked senders' left out).
 */
import Type from 'typebox';
import { AppError } from '../../errors.js';
import { isId } from '../../ids.js';
import { headSeq } from '../../store/sequences.js';
import type { Db } from '../../store/store.js';
import { listOrgEventsAfter } from '../../store/timeline.js';
import { principalOf } from '../auth.js';
import { DEFAULT_LIMIT } from '../pagination.js';
import { Event, EventType, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';

/**
 * A feed cursor as the feed and the stream take it: a seq, or `latest` (the head: only
 * events committed from now on).
 */
export const FeedCursor = (description: string) => Type.Union([
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  Type.Literal('latest'),
], { description });

const FeedQuery = Type.Object({
  after: Type.Optional(FeedCursor('return events with a greater seq; `latest`: none, with `next_after` the latest seq (where "from now on" starts). Default 0')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: DEFAULT_LIMIT })),
  types: Type.Optional(Type.Array(EventType, { description: 'only these event types' })),
  conversation_id: Type.Optional(Type.String({ maxLength: 100, description: 'only this conversation' })),
});

const FeedPage = Type.Object({
  data: Type.Array(Event, { description: 'oldest first, by seq' }),
  next_after: Type.Integer({ description: 'pass as `after` next time: the last seq returned, or `after` when none' }),
  has_more: Type.Boolean({ description: 'more events are already committed after this page' }),
});

/**
 * Refuses a feed cursor beyond the organization's head: no event of this store ever had
 * that seq, so the cursor comes from a store since reset or restored, or from another
 * server, and reading on from it would silently skip every event up to it.
 *
 * @param param where the cursor came from (`after`, `Last-Event-ID`).
 * @throws AppError `cursor_ahead` (409) naming the head.
 */
export async function assertCursorKnown(db: Db, orgId: string, after: number, param: string): Promise<void> {
  if (after === 0) return;
  const head = await headSeq(db, orgId);
  if (after <= head) return;
  throw new AppError('cursor_ahead', `${param}=${after} is beyond this organization's latest event (seq ${head}): the store was reset or restored, or the cursor belongs to another server or organization.`, {
    param,
    fix: `Restart from after=0 (the whole feed again) or from after=${head} (only what comes next), and drop what you derived from the old cursor if the store was reset.`,
  });
}

export function eventRoutes(app: Api, { store }: ApiContext): void {
  app.get('/v1/events', {
    config: { permission: 'events:read' },
    schema: {
      tags: ['events'], summary: 'Change feed: the organization\'s events in commit order', querystring: FeedQuery,
      response: { 200: FeedPage, 400: Problem, 401: Problem, 409: Problem },
    },
  }, async (request) => {
    const principal = principalOf(request);
    const { limit = DEFAULT_LIMIT, types, conversation_id } = request.query;
    if (request.query.after === 'latest') return { data: [], next_after: await headSeq(store.db, principal.orgId), has_more: false };
    const after = request.query.after ?? 0;
    if (conversation_id !== undefined && !isId('conv', conversation_id)) {
      await assertCursorKnown(store.db, principal.orgId, after, 'after');
      return { data: [], next_after: after, has_more: false };
    }
    const rows = await listOrgEventsAfter(store.db, {
      orgId: principal.orgId, afterSeq: after, limit: limit + 1, types, conversationId: conversation_id, identityId: principal.identityId ?? undefined,
    });
    // Only an empty page can come from a cursor beyond the head: one read then.
    if (rows.length === 0) await assertCursorKnown(store.db, principal.orgId, after, 'after');
    const data = rows.slice(0, limit);
    return { data, next_after: data.at(-1)?.seq ?? after, has_more: rows.length > limit };
  });
}
