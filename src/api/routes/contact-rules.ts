/**
 * Contact rules: block or allow addresses, domains and number prefixes, org-wide or for
 * one identity (precedence in src/domain/contact-rules.ts). A key scoped to an identity
 * sees the org-wide rules and its identity's.
 */
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { RULE_ACTIONS, RULE_KINDS } from '../../domain/contact-rules.js';
import { AppError, notFound } from '../../errors.js';
import { isId } from '../../ids.js';
import { createContactRule, getContactRule, removeContactRule } from '../../services/contact-rules.js';
import { listContactRules } from '../../store/contact-rules.js';
import { principalOf } from '../auth.js';
import { decodeCursor, DEFAULT_LIMIT, page } from '../pagination.js';
import { contactRuleView } from '../presenters.js';
import { identityFilter } from '../identity-filter.js';
import { ContactRule, IdParams, Page, PageQuery, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';

const Action = Type.Union(RULE_ACTIONS.map((a) => Type.Literal(a)));
const Kind = Type.Union(RULE_KINDS.map((k) => Type.Literal(k)), {
  description: '`address`: one email address or E.164 number; `domain`: a domain and its subdomains; `number_prefix`: E.164 numbers starting with it',
});

const RuleCreate = Type.Object({
  action: Action,
  kind: Kind,
  pattern: Type.String({ minLength: 1, maxLength: 320, description: 'ann@example.com, example.com or +1555, by kind' }),
  identity_id: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()], { description: 'null or omitted: every identity' })),
}, { additionalProperties: false });

const ListQuery = Type.Object({
  identity_id: Type.Optional(Type.String({ maxLength: 100, description: 'only rules applying to this identity: its own and the org-wide ones' })),
  action: Type.Optional(Action),
  kind: Type.Optional(Kind),
  ...PageQuery,
});

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem };

export function contactRuleRoutes(app: Api, { store }: ApiContext): void {
  /** A rule the caller may see: a scoped key sees the org-wide ones and its identity's. */
  const load = async (request: FastifyRequest, id: string) => {
    const principal = principalOf(request);
    if (!isId('rule', id)) throw notFound('contact rule');
    const row = await getContactRule(store.db, principal.orgId, id);
    if (principal.identityId !== null && row.identity_id !== null && row.identity_id !== principal.identityId) throw notFound('contact rule');
    return row;
  };

  app.post('/v1/contact_rules', {
    config: { idempotent: true, permission: 'contacts:write' },
    schema: {
      tags: ['contact rules'], summary: 'Create a block or allow rule (an identical existing rule is returned with 200)',
      body: RuleCreate, response: { 200: ContactRule, 201: ContactRule, ...errors },
    },
  }, async (request, reply) => {
    const b = request.body;
    if (b.identity_id != null && !isId('idn', b.identity_id)) throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
    const { row, created } = await createContactRule(store.db, principalOf(request).orgId, b);
    return reply.status(created ? 201 : 200).send(contactRuleView(row));
  });

  app.get('/v1/contact_rules', {
    config: { permission: 'contacts:read' },
    schema: { tags: ['contact rules'], summary: 'List contact rules, oldest first', querystring: ListQuery, response: { 200: Page(ContactRule), ...errors } },
  }, async (request) => {
    const principal = principalOf(request);
    const { limit = DEFAULT_LIMIT, cursor, action, kind } = request.query;
    const appliesTo = await identityFilter(store.db, principal, request.query.identity_id);
    const after = cursor ? decodeCursor(cursor, { id: 'string' }).id : undefined;
    const rows = await listContactRules(store.db, principal.orgId, { appliesTo, action, kind, limit, afterId: after });
    return page(rows, limit, contactRuleView, (r) => ({ id: r.id }));
  });

  app.get('/v1/contact_rules/:id', {
    config: { permission: 'contacts:read' },
    schema: { tags: ['contact rules'], summary: 'One contact rule', params: IdParams, response: { 200: ContactRule, ...errors } },
  }, async (request) => contactRuleView(await load(request, request.params.id)));

  app.delete('/v1/contact_rules/:id', {
    config: { permission: 'contacts:write' },
    schema: {
      tags: ['contact rules'], summary: 'Delete a contact rule (conversations it marked blocked change with their next inbound message)',
      params: IdParams, response: { 204: Type.Null(), ...errors },
    },
  }, async (request, reply) => {
    const row = await load(request, request.params.id);
    await removeContactRule(store.db, principalOf(request).orgId, row.id);
    return reply.status(204).send(null);
  });
}
