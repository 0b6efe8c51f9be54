/**
 * Identities and their mailboxes (email channel accounts): CRUD.
 */
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { AppError, notFound } from '../../errors.js';
import { isId } from '../../ids.js';
import {
  createIdentity, createMailbox, deleteIdentity, deleteMailbox, getIdentity, getMailbox, updateIdentity, updateMailbox,
  type SmtpRelay,
} from '../../services/identities.js';
import { listAccounts, listIdentities } from '../../store/identities.js';
import { principalOf } from '../auth.js';
import { identityFilter } from '../identity-filter.js';
import { decodeCursor, DEFAULT_LIMIT, page } from '../pagination.js';
import { identityView, mailboxView } from '../presenters.js';
import { EmailString, IdParams, Identity, Mailbox, Page, PageQuery, Problem, RoutingCodeInput, SmtpRelayInput } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';
import { reachesNonPublic } from '../../net/outbound.js';

const Handle = Type.String({ minLength: 1, maxLength: 320, pattern: '^[^\\s]+$', description: 'unique in the organization' });
const DisplayName = Type.Union([Type.String({ maxLength: 200 }), Type.Null()]);

const RoutingCode = Type.Union([RoutingCodeInput, Type.Null()], { description: 'the code a person texts to a shared line to reach this identity; null: none (clears it)' });
const IdentityCreate = Type.Object({ handle: Handle, display_name: Type.Optional(DisplayName), routing_code: Type.Optional(RoutingCode) }, { additionalProperties: false });
const IdentityPatch = Type.Object({
  handle: Type.Optional(Handle), display_name: Type.Optional(DisplayName), routing_code: Type.Optional(RoutingCode),
}, { additionalProperties: false });
const MailboxSettingsInput = {
  inbound_policy: Type.Optional(Type.Union([Type.Literal('accept'), Type.Literal('flag'), Type.Literal('reject')], {
    description: 'mail claiming one of this organization\'s own addresses that fails DMARC alignment: `flag` (default) stores it with `spoofed: true`, `reject` refuses it (SMTP 550 5.7.1), `accept` stores it unflagged',
  })),
  catch_all: Type.Optional(Type.Boolean({ description: 'also receive mail for every address of this domain that no mailbox has (default false)' })),
  auto_replies_stop_no_reply: Type.Optional(Type.Boolean({ description: 'an auto-reply cancels a no-reply timer as a reply does (default false)' })),
  verp: Type.Optional(Type.Boolean({ description: 'send with a VERP return path (local+bounce-<message id>@domain) so bounces name their message; for relays that allow an envelope sender other than the login (default false)' })),
};
const MailboxCreate = Type.Object({
  identity_id: Type.String({ maxLength: 100 }),
  address: EmailString,
  display_name: Type.Optional(DisplayName),
  smtp: Type.Optional(Type.Union([SmtpRelayInput, Type.Null()], { description: 'SMTP relay; null keeps outgoing mail in the store (capture)' })),
  ...MailboxSettingsInput,
}, { additionalProperties: false });
const MailboxPatch = Type.Object({
  display_name: Type.Optional(DisplayName),
  smtp: Type.Optional(Type.Union([SmtpRelayInput, Type.Null()])),
  ...MailboxSettingsInput,
}, { additionalProperties: false });

const errors = { 400: Problem, 401: Problem, 404: Problem };
const relay = (s: { host: string; port: number; secure?: boolean; user?: string | null; password?: string | null } | null | undefined): SmtpRelay | null | undefined =>
  s === undefined ? undefined : s === null ? null
    : { host: s.host, port: s.port, secure: s.secure ?? false, user: s.user ?? null, password: s.password ?? null };

export function identityRoutes(app: Api, { store, config }: ApiContext): void {
  /**
   * The relay of a mailbox body, refused when its host reaches a private address and
   * those are not allowed (SSRF: the relay's answers reach the tenant as send errors).
   */
  const checkedRelay = async (smtp: Parameters<typeof relay>[0]) => {
    const r = relay(smtp);
    if (r && !config.outboundAllowPrivate && await reachesNonPublic(r.host)) {
      throw new AppError('validation_failed', 'smtp.host reaches a private or reserved address.', {
        param: 'smtp.host',
        fix: 'Use your relay\'s public host name. If it is on your own network on purpose, the server\'s operator can allow private addresses (OUTBOUND_ALLOW_PRIVATE).',
      });
    }
    return r;
  };
  const identityId = (id: string) => {
    if (!isId('idn', id)) throw notFound('identity');
    return id;
  };
  /** An identity id the caller may see (a scoped key sees its own only); 404 otherwise. */
  const visibleIdentity = (request: FastifyRequest, id: string) => {
    const scope = principalOf(request).identityId;
    if (scope !== null && scope !== id) throw notFound('identity');
    return identityId(id);
  };
  const mailboxId = (id: string) => {
    if (!isId('acct', id)) throw notFound('mailbox');
    return id;
  };

  app.post('/v1/identities', {
    config: { idempotent: true, permission: 'identities:write' },
    schema: { tags: ['identities'], summary: 'Create an identity', body: IdentityCreate, response: { 201: Identity, ...errors, 409: Problem } },
  }, async (request, reply) => {
    const row = await createIdentity(store, principalOf(request).orgId, request.body);
    return reply.status(201).send(identityView(row));
  });

  app.get('/v1/identities', {
    config: { permission: 'identities:read' },
    schema: { tags: ['identities'], summary: 'List identities', querystring: Type.Object(PageQuery), response: { 200: Page(Identity), ...errors } },
  }, async (request) => {
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const after = request.query.cursor ? decodeCursor(request.query.cursor, { id: 'string' }).id : undefined;
    const principal = principalOf(request);
    if (principal.identityId !== null) {
      // A scoped key sees its own identity only.
      const own = await getIdentity(store.db, principal.orgId, principal.identityId);
      return page(after === undefined ? [own] : [], limit, identityView, (r) => ({ id: r.id }));
    }
    const rows = await listIdentities(store.db, principal.orgId, limit, after);
    return page(rows, limit, identityView, (r) => ({ id: r.id }));
  });

  app.get('/v1/identities/:id', {
    config: { permission: 'identities:read' },
    schema: { tags: ['identities'], summary: 'One identity', params: IdParams, response: { 200: Identity, ...errors } },
  }, async (request) => identityView(await getIdentity(store.db, principalOf(request).orgId, visibleIdentity(request, request.params.id))));

  app.patch('/v1/identities/:id', {
    config: { permission: 'identities:write' },
    schema: { tags: ['identities'], summary: 'Change an identity', params: IdParams, body: IdentityPatch, response: { 200: Identity, ...errors, 409: Problem } },
  }, async (request) => {
    const id = identityId(request.params.id);
    const body = request.body ?? {};
    if (body.handle === undefined && body.display_name === undefined && body.routing_code === undefined) {
      throw new AppError('no_valid_fields', 'The body changes nothing: send `handle`, `display_name` or `routing_code`.');
    }
    return identityView(await updateIdentity(store, principalOf(request).orgId, id, body));
  });

  app.delete('/v1/identities/:id', {
    config: { permission: 'identities:write' },
    schema: { tags: ['identities'], summary: 'Delete an identity with its mailboxes and conversations', params: IdParams, response: { 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    await deleteIdentity(store, principalOf(request).orgId, identityId(request.params.id));
    return reply.status(204).send(null);
  });

  app.post('/v1/mailboxes', {
    config: { idempotent: true, permission: 'identities:write' },
    schema: { tags: ['mailboxes'], summary: 'Create a mailbox for an identity', body: MailboxCreate, response: { 201: Mailbox, ...errors, 409: Problem } },
  }, async (request, reply) => {
    const b = request.body;
    if (!isId('idn', b.identity_id)) throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
    const row = await createMailbox(store, principalOf(request).orgId, {
      ...b, smtp: await checkedRelay(b.smtp),
    });
    return reply.status(201).send(mailboxView(row));
  });

  app.get('/v1/mailboxes', {
    config: { permission: 'identities:read' },
    schema: {
      tags: ['mailboxes'], summary: 'List mailboxes',
      querystring: Type.Object({ identity_id: Type.Optional(Type.String({ maxLength: 100 })), ...PageQuery }),
      response: { 200: Page(Mailbox), ...errors },
    },
  }, async (request) => {
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const after = request.query.cursor ? decodeCursor(request.query.cursor, { id: 'string' }).id : undefined;
    const principal = principalOf(request);
    const scoped = await identityFilter(store.db, principal, request.query.identity_id);
    const rows = await listAccounts(store.db, principal.orgId, { identityId: scoped, channel: 'email', limit, afterId: after });
    return page(rows, limit, mailboxView, (r) => ({ id: r.id }));
  });

  app.get('/v1/mailboxes/:id', {
    config: { permission: 'identities:read' },
    schema: { tags: ['mailboxes'], summary: 'One mailbox', params: IdParams, response: { 200: Mailbox, ...errors } },
  }, async (request) => {
    const principal = principalOf(request);
    const row = await getMailbox(store.db, principal.orgId, mailboxId(request.params.id));
    if (principal.identityId !== null && row.identity_id !== principal.identityId) throw notFound('mailbox');
    return mailboxView(row);
  });

  app.patch('/v1/mailboxes/:id', {
    config: { permission: 'identities:write' },
    schema: { tags: ['mailboxes'], summary: 'Change a mailbox (display name, SMTP relay)', params: IdParams, body: MailboxPatch, response: { 200: Mailbox, ...errors } },
  }, async (request) => {
    const id = mailboxId(request.params.id);
    const body = request.body ?? {};
    if (Object.values(body).every((v) => v === undefined)) {
      throw new AppError('no_valid_fields', 'The body changes nothing: send `display_name`, `smtp`, `inbound_policy`, `catch_all`, `auto_replies_stop_no_reply` or `verp`.');
    }
    return mailboxView(await updateMailbox(store, principalOf(request).orgId, id, { ...body, smtp: await checkedRelay(body.smtp) }));
  });

  app.delete('/v1/mailboxes/:id', {
    config: { permission: 'identities:write' },
    schema: { tags: ['mailboxes'], summary: 'Delete a mailbox', params: IdParams, response: { 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    await deleteMailbox(store, principalOf(request).orgId, mailboxId(request.params.id));
    return reply.status(204).send(null);
  });
}
