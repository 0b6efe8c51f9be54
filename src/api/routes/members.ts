/**
 * Members and API keys (SPEC section 2): `/v1/members` and `/v1/api_keys`. Managing
 * either needs `members:manage` (owners, admins, and keys acting as no member);
 * listing members is open to anyone who reads conversations, so agents can assign.
 */
import Type from 'typebox';
import { isoNow } from '../../clock.js';
import { AppError } from '../../errors.js';
import { PERMISSIONS, ROLES, parsePermissions, type Permission, type Role as RoleName } from '../../services/access.js';
import { createMember, deleteMember, getMember, issueKey, revokeKey, updateMember } from '../../services/members.js';
import { listMembers, type MemberRow } from '../../store/members.js';
import { listApiKeys, type ApiKeyRow } from '../../store/tenants.js';
import { principalOf } from '../auth.js';
import { apiKeyView } from '../presenters.js';
import { decodeCursor, DEFAULT_LIMIT, page } from '../pagination.js';
import { EmailString, IdParams, Nullable, Page, PageQuery, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';

const Timestamp = Type.String({ format: 'date-time' });
const Role = Type.Unsafe<RoleName>({ type: 'string', enum: [...ROLES], description: '`owner` | `admin` | `agent`' });
const PermissionName = Type.Unsafe<Permission>({ type: 'string', enum: [...PERMISSIONS] });
const Name = Type.String({ minLength: 1, maxLength: 200 });

export const Member = Type.Object({
  id: Type.String(), email: Type.String(), name: Nullable(Type.String()), role: Role,
  identity_id: Nullable(Type.String(), { description: 'the one identity whose conversations the member sees (in the web inbox and through keys acting as them); null for all' }),
  created_at: Timestamp, updated_at: Timestamp,
}, { $id: 'Member' });

export const ApiKey = Type.Object({
  id: Type.String(), name: Type.String(),
  member_id: Nullable(Type.String(), { description: 'the member the key acts as' }),
  identity_id: Nullable(Type.String(), { description: 'the one identity the key sees; null for org-wide' }),
  permissions: Nullable(Type.Array(PermissionName), { description: 'null grants every permission (narrowed by role and scope)' }),
  created_at: Timestamp,
  last_used_at: Nullable(Timestamp, { description: 'updated at most once a minute' }),
  revoked_at: Nullable(Timestamp),
}, { $id: 'ApiKey' });

const CreatedApiKey = Type.Object({ ...ApiKey.properties, key: Type.String({ description: 'the secret, shown once' }) });

const MemberIdentity = Type.Optional(Nullable(Type.String({ maxLength: 100 })));
const MemberCreate = Type.Object({ email: EmailString, name: Type.Optional(Nullable(Name)), role: Role, identity_id: MemberIdentity }, { additionalProperties: false });
const MemberPatch = Type.Object({ email: Type.Optional(EmailString), name: Type.Optional(Nullable(Name)), role: Type.Optional(Role), identity_id: MemberIdentity });
const KeyCreate = Type.Object({
  name: Name,
  member_id: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
  identity_id: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
  permissions: Type.Optional(Nullable(Type.Array(PermissionName, { maxItems: PERMISSIONS.length, uniqueItems: true }))),
}, { additionalProperties: false });

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem };

export function memberView(row: MemberRow) {
  return {
    id: row.id, email: row.email, name: row.name, role: row.role as RoleName, identity_id: row.identity_id,
    created_at: row.created_at, updated_at: row.updated_at,
  };
}

export function memberRoutes(app: Api, { store, clock }: ApiContext): void {
  app.post('/v1/members', {
    config: { idempotent: true, permission: 'members:manage' },
    schema: { tags: ['members'], summary: 'Add a member', body: MemberCreate, response: { 201: Member, ...errors, 409: Problem } },
  }, async (request, reply) => {
    const row = await createMember(store, principalOf(request).orgId, request.body, isoNow(clock));
    return reply.status(201).send(memberView(row));
  });

  app.get('/v1/members', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['members'], summary: 'List members', querystring: Type.Object(PageQuery), response: { 200: Page(Member), ...errors } },
  }, async (request) => {
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const after = request.query.cursor ? decodeCursor(request.query.cursor, { id: 'string' }).id : undefined;
    return page(await listMembers(store.db, principalOf(request).orgId, limit, after), limit, memberView, (r) => ({ id: r.id }));
  });

  app.get('/v1/members/:id', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['members'], summary: 'One member', params: IdParams, response: { 200: Member, ...errors } },
  }, async (request) => memberView(await getMember(store.db, principalOf(request).orgId, request.params.id)));

  app.patch('/v1/members/:id', {
    config: { permission: 'members:manage' },
    schema: { tags: ['members'], summary: 'Change a member\'s email, name, role or identity scope', params: IdParams, body: MemberPatch, response: { 200: Member, ...errors, 409: Problem } },
  }, async (request) => {
    const { email, name, role, identity_id } = request.body ?? {};
    if (email === undefined && name === undefined && role === undefined && identity_id === undefined) {
      throw new AppError('no_valid_fields', 'The body has no field this endpoint changes: send `email`, `name`, `role` or `identity_id`.');
    }
    return memberView(await updateMember(store, principalOf(request).orgId, request.params.id, { email, name, role, identity_id }, isoNow(clock)));
  });

  app.delete('/v1/members/:id', {
    config: { permission: 'members:manage' },
    schema: {
      tags: ['members'], summary: 'Remove a member (revokes their keys, unassigns their conversations)', params: IdParams,
      response: { 204: Type.Null(), ...errors, 409: Problem },
    },
  }, async (request, reply) => {
    const principal = principalOf(request);
    await deleteMember(store, principal.orgId, request.params.id, principal, clock);
    return reply.status(204).send(null);
  });

  app.post('/v1/api_keys', {
    config: { idempotent: true, permission: 'members:manage' },
    schema: {
      tags: ['api keys'], summary: 'Create an API key (the secret is shown once)', body: KeyCreate,
      response: { 201: CreatedApiKey, ...errors, 422: Problem },
    },
  }, async (request, reply) => {
    const { key, row } = await issueKey(store, principalOf(request), request.body);
    return reply.status(201).send({ ...apiKeyView(row), key: key.key });
  });

  app.get('/v1/api_keys', {
    config: { permission: 'members:manage' },
    schema: { tags: ['api keys'], summary: 'List API keys (never their secrets)', querystring: Type.Object(PageQuery), response: { 200: Page(ApiKey), ...errors } },
  }, async (request) => {
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const after = request.query.cursor ? decodeCursor(request.query.cursor, { id: 'string' }).id : undefined;
    return page(await listApiKeys(store.db, principalOf(request).orgId, limit, after), limit, apiKeyView, (r) => ({ id: r.id }));
  });

  app.delete('/v1/api_keys/:id', {
    config: { permission: 'members:manage' },
    schema: { tags: ['api keys'], summary: 'Revoke an API key (it stops working at once)', params: IdParams, response: { 200: ApiKey, ...errors } },
  }, async (request) => apiKeyView(await revokeKey(store, principalOf(request).orgId, request.params.id, isoNow(clock))));
}
