/**
 * Views (SPEC section 6, "Inbox"): `GET /v1/views` (built-in views first, then saved
 * ones), `POST /v1/views`, `GET|PUT|PATCH|DELETE /v1/views/{id}`, and
 * `GET /v1/views/counts` (unread and total per view). Reads need `conversations:read`,
 * writes `views:write`, which a key scoped to one identity never holds: saved views are
 * the whole organization's (services/access.ts `ORG_WIDE_PERMISSIONS`).
 */
import Type from 'typebox';
import { BUILTIN_VIEWS } from '../../domain/views.js';
import { allViews, changeView, createView, findAnyView, MAX_VIEWS, removeView } from '../../services/views.js';
import { countConversationsMany } from '../../store/conversations.js';
import { principalOf } from '../auth.js';
import { identityFilter } from '../identity-filter.js';
import { FilterFields } from '../conversation-filter.js';
import { IdParams, Problem } from '../schemas.js';
import { checkSavedFilter, narrowView } from '../view-filter.js';
import type { Api, ApiContext } from '../app.js';

const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC' });
const NullForBuiltin = Type.Union([Timestamp, Type.Null()], { description: 'null for built-in views' });

const Filter = Type.Object(FilterFields, {
  additionalProperties: false,
  description: 'the parameters of GET /v1/conversations (without paging); `assigned_to: "me"` and `scope` mean whoever reads the view',
});
const Name = Type.String({ minLength: 1, maxLength: 100 });

const View = Type.Object({
  id: Type.String({ description: `\`view_…\` id, or one of the built-in ids: ${BUILTIN_VIEWS.map((v) => `\`${v.id}\``).join(', ')}` }),
  name: Type.String(),
  builtin: Type.Boolean({ description: 'built-in views cannot be changed or deleted' }),
  filter: Filter,
  created_at: NullForBuiltin,
  updated_at: NullForBuiltin,
}, { $id: 'View' });

const ViewBody = Type.Object({ name: Name, filter: Filter }, { additionalProperties: false });
const PatchBody = Type.Object({
  name: Type.Optional(Name),
  filter: Type.Optional(Type.Object(FilterFields, { additionalProperties: false, description: 'replaces the whole filter' })),
}, { additionalProperties: false });

const ViewCount = Type.Object({
  view_id: Type.String(),
  name: Type.String(),
  unread: Type.Integer({ description: 'conversations of the view with at least one unread message' }),
  total: Type.Integer({ description: 'conversations of the view' }),
});
const CountsQuery = Type.Object({
  identity_id: Type.Optional(Type.String({ maxLength: 100, description: 'count only this identity\'s conversations' })),
});

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem };

export function viewRoutes(app: Api, { store, clock, readCache }: ApiContext): void {
  app.get('/v1/views', {
    config: { permission: 'conversations:read' },
    schema: {
      tags: ['views'], summary: `Views: the built-in ones first, then saved ones, oldest first (at most ${MAX_VIEWS}; not paged)`,
      response: { 200: Type.Object({ data: Type.Array(View) }), ...errors },
    },
  }, async (request) => ({ data: await allViews(store.db, principalOf(request).orgId) }));

  app.get('/v1/views/counts', {
    config: { permission: 'conversations:read' },
    schema: {
      tags: ['views'], summary: 'Unread and total conversations of every view (exact; from counters for the built-in views, a count of rows for saved filters on labels, addresses, dates or text)',
      querystring: CountsQuery, response: { 200: Type.Object({ data: Type.Array(ViewCount) }), ...errors },
    },
  }, async (request, reply) => {
    const principal = principalOf(request);
    const params = { identity_id: request.query.identity_id };
    await identityFilter(store.db, principal, params.identity_id);
    // What the answer depends on besides the store: who asks (identity scope, `me`) and the
    // parameter. Saved views change only under the org lock, so the version covers them.
    const key = `counts\n${JSON.stringify([principal.identityId, principal.memberId, params.identity_id ?? null])}`;
    const body = await readCache.get(principal.orgId, key, async () => {
      const views = await allViews(store.db, principal.orgId);
      const counts = await countConversationsMany(store.db, principal.orgId, views.map((view) => narrowView(principal, view.filter, params)));
      const data = views.map((view, i) => ({ view_id: view.id, name: view.name, ...counts[i]! }));
      return Buffer.from(reply.serialize({ data }) as string);
    }, principal.orgVersion);
    return reply.type('application/json; charset=utf-8').send(body as never);
  });

  app.post('/v1/views', {
    config: { idempotent: true, permission: 'views:write' },
    schema: { tags: ['views'], summary: 'Save a view', body: ViewBody, response: { 201: View, ...errors, 409: Problem } },
  }, async (request, reply) => {
    const principal = principalOf(request);
    checkSavedFilter(principal, request.body.filter);
    return reply.status(201).send(await createView(store, principal.orgId, request.body, clock));
  });

  app.get('/v1/views/:id', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['views'], summary: 'A view', params: IdParams, response: { 200: View, ...errors } },
  }, async (request) => findAnyView(store.db, principalOf(request).orgId, request.params.id));

  app.put('/v1/views/:id', {
    config: { permission: 'views:write' },
    schema: { tags: ['views'], summary: 'Replace a saved view\'s name and filter', params: IdParams, body: ViewBody, response: { 200: View, ...errors, 409: Problem } },
  }, async (request) => {
    const principal = principalOf(request);
    checkSavedFilter(principal, request.body.filter);
    return changeView(store, principal.orgId, request.params.id, request.body, clock);
  });

  app.patch('/v1/views/:id', {
    config: { permission: 'views:write' },
    schema: { tags: ['views'], summary: 'Rename a saved view or replace its filter', params: IdParams, body: PatchBody, response: { 200: View, ...errors, 409: Problem } },
  }, async (request) => {
    const principal = principalOf(request);
    const body = request.body ?? {};
    if (body.filter) checkSavedFilter(principal, body.filter);
    return changeView(store, principal.orgId, request.params.id, body, clock);
  });

  app.delete('/v1/views/:id', {
    config: { permission: 'views:write' },
    schema: { tags: ['views'], summary: 'Delete a saved view', params: IdParams, response: { 204: Type.Null(), ...errors, 409: Problem } },
  }, async (request, reply) => {
    await removeView(store, principalOf(request).orgId, request.params.id);
    return reply.status(204).send(null);
  });
}
