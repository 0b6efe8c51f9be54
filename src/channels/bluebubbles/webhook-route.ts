/**
 * `POST /v1/inbound/bluebubbles/{account_id}?token=…`: the webhook URL registered in a
 * BlueBubbles server (Settings → API & Webhooks). BlueBubbles does not sign its webhooks,
 * so the URL carries a per-account secret, the account's `config.webhook_token`; it is
 * checked (constant-time) before the body is even parsed, and a request without it is a
 * 401 `invalid_signature` with nothing stored. Answers 200 once what the event changed
 * is committed (BlueBubbles does not retry, so an ignored event is a 200 too).
 */
import crypto from 'node:crypto';
import Type from 'typebox';
import type { Api, ApiContext } from '../../api/app.js';
import { Problem } from '../../api/schemas.js';
import { AppError } from '../../errors.js';
import { isId } from '../../ids.js';
import { accountConfig } from '../../services/channel-accounts.js';
import { receiveInbound } from '../../services/inbound.js';
import { recordOutboundEcho, receiveReaction, receiveTyping } from '../../services/inbound-signals.js';
import { applyProviderStatus } from '../../services/ingest-channel.js';
import type { AccountRow } from '../../store/identities.js';
import type { Store } from '../../store/store.js';
import type { BlueBubblesAccountConfig } from './adapter.js';
import { translateWebhook } from './webhook.js';

const Params = Type.Object({ account_id: Type.String({ maxLength: 100 }) });
const Query = Type.Object({ token: Type.Optional(Type.String({ maxLength: 500 })) });
const Body = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 100, description: 'the BlueBubbles event key (`new-message`, `updated-message`, `typing-indicator`, …)' }),
  data: Type.Optional(Type.Unknown({ description: 'the event\'s payload (a serialized message for message events)' })),
});
const Outcome = Type.Object({
  status: Type.Union([Type.Literal('stored'), Type.Literal('duplicate'), Type.Literal('applied'), Type.Literal('ignored')]),
  event: Type.String({ description: 'the event key received' }),
  conversation_id: Type.Optional(Type.String()),
  message_id: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String({ description: 'why nothing was stored' })),
});

const digest = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest();

/** Whether `given` is the account's webhook token (hashed first, so lengths never leak through timing). */
export function tokenMatches(account: AccountRow, given: string | undefined): boolean {
  const expected = accountConfig<BlueBubblesAccountConfig>(account).webhook_token;
  if (typeof expected !== 'string' || expected.length === 0 || given === undefined) return false;
  return crypto.timingSafeEqual(digest(expected), digest(given));
}

async function imessageAccount(store: Store, id: string): Promise<AccountRow | undefined> {
  if (!isId('acct', id)) return undefined;
  return store.db.selectFrom('channel_accounts').selectAll().where('id', '=', id).where('channel', '=', 'imessage').executeTakeFirst();
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The iMessage account a BlueBubbles webhook authenticated as. */
    blueBubblesAccount?: AccountRow;
  }
}

export function blueBubblesRoutes(app: Api, { store, clock, metrics }: ApiContext): void {
  app.post('/v1/inbound/bluebubbles/:account_id', {
    config: { providerAuth: true },
    schema: {
      tags: ['inbound'], summary: 'BlueBubbles webhook (iMessage): register this URL with `?token=<webhook_token>` in the BlueBubbles server',
      security: [], params: Params, querystring: Query, body: Body,
      response: { 200: Outcome, 400: Problem, 401: Problem, 413: Problem, 415: Problem },
    },
    onRequest: async (request) => {
      const { account_id: accountId } = request.params as { account_id?: string };
      const { token } = request.query as { token?: string };
      const account = accountId ? await imessageAccount(store, accountId) : undefined;
      if (!account || !tokenMatches(account, typeof token === 'string' ? token : undefined)) {
        throw new AppError('invalid_signature', 'The webhook URL has no valid `token` for an iMessage channel account.', {
          param: 'token',
          fix: 'Register the webhook in BlueBubbles as https://<this server>/v1/inbound/bluebubbles/<account id>?token=<the account\'s config.webhook_token> (set it with PATCH /v1/channel_accounts/{id}). Nothing was stored.',
        });
      }
      request.blueBubblesAccount = account;
    },
  }, async (request) => {
    const account = request.blueBubblesAccount!;
    const type = request.body.type;
    const event = translateWebhook(type, request.body.data);
    switch (event.kind) {
      case 'message': {
        const out = await receiveInbound(store, account, event.message, clock, metrics);
        return out.status === 'stored'
          ? { status: 'stored' as const, event: type, conversation_id: out.conversationId, message_id: out.messageId }
          : { status: 'duplicate' as const, event: type, conversation_id: out.conversationId };
      }
      case 'reaction': {
        const out = await receiveReaction(store, account, {
          providerMessageId: event.guid, targetProviderId: event.target, reaction: event.reaction, removed: event.removed, from: event.from,
        }, clock);
        if (out.status === 'stored') return { status: 'stored' as const, event: type, conversation_id: out.conversationId, message_id: out.messageId };
        if (out.status === 'duplicate') return { status: 'duplicate' as const, event: type };
        return { status: 'ignored' as const, event: type, reason: 'a tapback on a message this account does not know' };
      }
      case 'echo':
        return { status: await recordOutboundEcho(store, account, event.tempGuid, event.guid) ? 'applied' as const : 'ignored' as const, event: type };
      case 'status': {
        if (event.tempGuid) await recordOutboundEcho(store, account, event.tempGuid, event.guid);
        const applied = await applyProviderStatus(store, account, event.guid, event.status, event.error, clock);
        return applied
          ? { status: 'applied' as const, event: type }
          : { status: 'ignored' as const, event: type, reason: 'an unknown message, or a status it is already past' };
      }
      case 'typing': {
        const signal = await receiveTyping(store, account, event.counterpart, event.state, clock);
        return signal
          ? { status: 'applied' as const, event: type, conversation_id: signal.conversation_id }
          : { status: 'ignored' as const, event: type, reason: 'no conversation with this person' };
      }
      case 'ignored':
        return { status: 'ignored' as const, event: type, reason: event.reason };
    }
  });
}
