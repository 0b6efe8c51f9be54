/**
 * Channel accounts other than mailboxes (SMS numbers, iMessage lines, LinkedIn and other
 * HTTP-bridged accounts), with their health: create, list, read, change.
 */
import Type from 'typebox';
import { AppError, notFound } from '../../errors.js';
import { isId } from '../../ids.js';
import { createChannelAccount, getChannelAccount, updateChannelAccount } from '../../services/channel-accounts.js';
import { prepareHttpAccountConfig } from '../../channels/http/account-config.js';
import { principalOf } from '../auth.js';
import { identityFilter } from '../identity-filter.js';
import { decodeCursor, DEFAULT_LIMIT, page } from '../pagination.js';
import { channelAccountView } from '../presenters.js';
import { AccountStatus, ChannelAccount, IdParams, Page, PageQuery, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';
import { listAccounts } from '../../store/identities.js';

const AccountChannel = Type.Union([Type.Literal('sms'), Type.Literal('imessage'), Type.Literal('linkedin'), Type.Literal('http')]);
const DisplayName = Type.Union([Type.String({ maxLength: 200 }), Type.Null()]);
const Config = Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), {
  maxProperties: 50,
  description: 'provider settings: SMS `account_sid`, `auth_token`, `base_url`; iMessage `server_url`, `password`; HTTP `outbound_url`, `secret`',
});

const Create = Type.Object({
  identity_id: Type.String({ maxLength: 100 }),
  channel: AccountChannel,
  address: Type.String({ minLength: 1, maxLength: 320 }),
  display_name: Type.Optional(DisplayName),
  pool: Type.Optional(Type.Boolean({ default: false, description: 'a shared line (SMS, iMessage): people are connected to identities by routing code' })),
  status: Type.Optional(AccountStatus),
  config: Type.Optional(Config),
}, { additionalProperties: false });

const Patch = Type.Object({
  display_name: Type.Optional(DisplayName),
  status: Type.Optional(AccountStatus),
  pool: Type.Optional(Type.Boolean()),
  config: Type.Optional(Config),
}, { additionalProperties: false });

const errors = { 400: Problem, 401: Problem, 404: Problem };

/** The create response: the account, and for LinkedIn and HTTP accounts created without one, the generated signing secret (shown this once). */
const CreatedAccount = Type.Object({
  ...ChannelAccount.properties,
  secret: Type.Optional(Type.String({ description: 'the generated `whsec_…` signing secret of a LinkedIn or HTTP account; shown once' })),
});

const isHttpChannel = (channel: string) => channel === 'linkedin' || channel === 'http';

export function channelAccountRoutes(app: Api, { store, clock }: ApiContext): void {
  const accountId = (id: string) => {
    if (!isId('acct', id)) throw notFound('channel account');
    return id;
  };

  app.post('/v1/channel_accounts', {
    config: { idempotent: true, permission: 'identities:write' },
    schema: { tags: ['channel accounts'], summary: 'Add an SMS, iMessage, LinkedIn or HTTP account to an identity', body: Create, response: { 201: CreatedAccount, ...errors, 409: Problem } },
  }, async (request, reply) => {
    const b = request.body;
    if (!isId('idn', b.identity_id)) throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
    const http = isHttpChannel(b.channel) ? prepareHttpAccountConfig(b.config, true) : { config: b.config, generatedSecret: null };
    const row = await createChannelAccount(store, principalOf(request).orgId, { ...b, config: http.config }, clock);
    return reply.status(201).send({ ...channelAccountView(row), ...(http.generatedSecret ? { secret: http.generatedSecret } : {}) });
  });

  app.get('/v1/channel_accounts', {
    config: { permission: 'identities:read' },
    schema: {
      tags: ['channel accounts'], summary: 'List channel accounts (mailboxes too, with `channel=email`)',
      querystring: Type.Object({
        identity_id: Type.Optional(Type.String({ maxLength: 100 })),
        channel: Type.Optional(Type.Union([AccountChannel, Type.Literal('email')])),
        ...PageQuery,
      }),
      response: { 200: Page(ChannelAccount), ...errors },
    },
  }, async (request) => {
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const after = request.query.cursor ? decodeCursor(request.query.cursor, { id: 'string' }).id : undefined;
    const principal = principalOf(request);
    const identityId = await identityFilter(store.db, principal, request.query.identity_id);
    const rows = await listAccounts(store.db, principal.orgId, { identityId, channel: request.query.channel, limit, afterId: after });
    return page(rows, limit, channelAccountView, (r) => ({ id: r.id }));
  });

  app.get('/v1/channel_accounts/:id', {
    config: { permission: 'identities:read' },
    schema: { tags: ['channel accounts'], summary: 'One channel account, with its health', params: IdParams, response: { 200: ChannelAccount, ...errors } },
  }, async (request) => {
    const principal = principalOf(request);
    const row = await getChannelAccount(store.db, principal.orgId, accountId(request.params.id));
    if (principal.identityId !== null && row.identity_id !== principal.identityId) throw notFound('channel account');
    return channelAccountView(row);
  });

  app.patch('/v1/channel_accounts/:id', {
    config: { permission: 'identities:write' },
    schema: { tags: ['channel accounts'], summary: 'Change a channel account (display name, status after reconnecting, provider settings)', params: IdParams, body: Patch, response: { 200: ChannelAccount, ...errors } },
  }, async (request) => {
    const body = request.body ?? {};
    if (Object.values(body).every((v) => v === undefined)) {
      throw new AppError('no_valid_fields', 'The body changes nothing: send `display_name`, `status`, `pool` or `config`.');
    }
    const orgId = principalOf(request).orgId;
    const id = accountId(request.params.id);
    if (body.config !== undefined && isHttpChannel((await getChannelAccount(store.db, orgId, id)).channel)) prepareHttpAccountConfig(body.config, false);
    return channelAccountView(await updateChannelAccount(store, orgId, id, body, clock));
  });
}
