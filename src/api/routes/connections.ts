/**
 * Router connections on shared lines (SPEC section 2): list, read, release. Connections
 * are made by the router when a person texts a routing code (services/router.ts), never
 * through the API. A key scoped to an identity sees that identity's connections only.
 */
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { notFound } from '../../errors.js';
import { isId } from '../../ids.js';
import { actorOf } from '../../services/access.js';
import { releaseConnection } from '../../services/connections.js';
import { findConnection, listConnections, type ConnectionRow } from '../../store/connections.js';
import { findConversation } from '../../store/conversations.js';
import { principalOf } from '../auth.js';
import { decodeCursor, DEFAULT_LIMIT, page } from '../pagination.js';
import { connectionView } from '../presenters.js';
import { Connection, IdParams, Page, PageQuery, Problem } from '../schemas.js';
import { identityFilter } from '../identity-filter.js';
import { canSee } from '../scope.js';
import { bodylessAsEmpty } from '../validation.js';
import type { Api, ApiContext } from '../app.js';

const ListQuery = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('released')])),
  identity_id: Type.Optional(Type.String({ maxLength: 100 })),
  account_id: Type.Optional(Type.String({ maxLength: 100, description: 'the shared line' })),
  ...PageQuery,
});
const EmptyBody = Type.Object({}, { additionalProperties: false });

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem };

export function connectionRoutes(app: Api, { store, clock }: ApiContext): void {
  /**
   * A connection the caller may see: of its org, and for a scoped key of its identity
   * with a conversation no contact rule blocks.
   *
   * @throws AppError `not_found` for a malformed, missing, foreign or invisible id alike.
   */
  const visibleConnection = async (request: FastifyRequest, id: string): Promise<ConnectionRow> => {
    const p = principalOf(request);
    const row = isId('conn', id) ? await findConnection(store.db, p.orgId, id) : undefined;
    if (!row) throw notFound('connection');
    if (p.identityId !== null) {
      const conversation = await findConversation(store.db, p.orgId, row.conversation_id);
      if (row.identity_id !== p.identityId || !conversation || !canSee(p, conversation)) throw notFound('connection');
    }
    return row;
  };

  app.get('/v1/connections', {
    config: { permission: 'conversations:read' },
    schema: {
      tags: ['connections'], summary: 'List router connections on shared lines, newest first',
      querystring: ListQuery, response: { 200: Page(Connection), ...errors },
    },
  }, async (request) => {
    const q = request.query;
    const limit = q.limit ?? DEFAULT_LIMIT;
    const before = q.cursor ? decodeCursor(q.cursor, { id: 'string' }).id : undefined;
    const p = principalOf(request);
    const identityId = await identityFilter(store.db, p, q.identity_id);
    const rows = await listConnections(store.db, p.orgId, {
      limit, beforeId: before, status: q.status, identityId, accountId: q.account_id, hideBlocked: p.identityId !== null,
    });
    return page(rows, limit, connectionView, (r) => ({ id: r.id }));
  });

  app.get('/v1/connections/:id', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['connections'], summary: 'One router connection', params: IdParams, response: { 200: Connection, ...errors } },
  }, async (request) => connectionView(await visibleConnection(request, request.params.id)));

  app.post('/v1/connections/:id/release', {
    config: { idempotent: true, permission: 'conversations:write' },
    schema: {
      tags: ['connections'], summary: 'Release an active connection (the person reconnects by texting the routing code again)',
      params: IdParams, body: EmptyBody, response: { 200: Connection, ...errors, 409: Problem },
    },
    preValidation: bodylessAsEmpty,
  }, async (request) => {
    const row = await visibleConnection(request, request.params.id);
    return connectionView(await releaseConnection(store, row.org_id, row.id, actorOf(principalOf(request)), clock));
  });
}
