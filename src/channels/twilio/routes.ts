/**
 * Twilio's webhooks on this server, in their own Fastify scope (form-encoded bodies are
 * parsed there only; every other route keeps JSON):
 *
 * - `POST /v1/inbound/twilio/{account_id}/messages`: an incoming SMS/MMS ("A message
 *   comes in" on the number) → services/inbound.ts `receiveInbound`;
 * - `POST /v1/inbound/twilio/{account_id}/status`: a message status callback →
 *   services/ingest-channel.ts `applyProviderStatus`.
 *
 * Both check `X-Twilio-Signature` with the account's auth token before anything else is
 * read (401 `invalid_signature`, nothing stored) and answer an empty TwiML document only
 * after the commit, so nothing Twilio sees acknowledged is lost.
 */
import formbody from '@fastify/formbody';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { AppError, notFound } from '../../errors.js';
import { isId } from '../../ids.js';
import { accountConfig } from '../../services/channel-accounts.js';
import { applyProviderStatus, type InboundMedia } from '../../services/ingest-channel.js';
import { receiveInbound } from '../../services/inbound.js';
import { findAccountById, type AccountRow } from '../../store/identities.js';
import type { Api, ApiContext } from '../../api/app.js';
import { Problem } from '../../api/schemas.js';
import { UpstreamError } from '../adapter.js';
import { fetchMedia, twilioCredentials, type TwilioCredentials, type TwilioRequestOptions } from './client.js';
import { EMPTY_TWIML, isTwilioSignatureValid, parseIncoming, parseStatus, type TwilioIncoming, type TwilioParams } from './webhooks.js';

const Params = Type.Object({ account_id: Type.String({ maxLength: 100 }) });
const Form = Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]), {
  description: 'Twilio\'s form fields (application/x-www-form-urlencoded), signed with X-Twilio-Signature',
});
const TwiML = Type.Unsafe<string>({ type: 'string', description: 'an empty TwiML document, `<Response/>` (text/xml)' });
const responses = { 200: TwiML, 400: Problem, 403: Problem, 404: Problem, 502: Problem };

/** The URL Twilio called: the configured public URL, else this request's protocol and Host, then the path and query. */
function calledUrl(request: FastifyRequest, publicUrl: string | null): string {
  return `${publicUrl ?? `${request.protocol}://${request.headers.host ?? ''}`}${request.url}`;
}

/**
 * The SMS account a webhook names, once the request's signature is proven.
 *
 * @throws AppError `not_found` (no SMS account with that id), `invalid_signature`.
 */
async function signedAccount(ctx: ApiContext, request: FastifyRequest, accountId: string): Promise<{ account: AccountRow; credentials: TwilioCredentials }> {
  const account = isId('acct', accountId) ? await findAccountById(ctx.store.db, accountId) : undefined;
  if (!account || account.channel !== 'sms') throw notFound('SMS account');
  const credentials = twilioCredentials(accountConfig(account));
  const signature = request.headers['x-twilio-signature'];
  const params = (request.body ?? {}) as TwilioParams;
  if (!credentials) {
    throw new AppError('invalid_signature', `The account ${account.id} has no Twilio auth_token to check signatures with.`, {
      fix: 'Set `account_sid` and `auth_token` in the account\'s config (PATCH /v1/channel_accounts/{id}).',
    });
  }
  if (typeof signature !== 'string' || !isTwilioSignatureValid(credentials.authToken, signature, calledUrl(request, ctx.config.publicUrl), params)) {
    throw new AppError('invalid_signature', signature ? 'X-Twilio-Signature does not match this request.' : 'The request has no X-Twilio-Signature.', { param: 'X-Twilio-Signature' });
  }
  return { account, credentials };
}

/**
 * Fetches an incoming message's media, at most `maxBytes` in all. An item Twilio will not
 * serve (4xx) or one over the bound is left out (and logged); a 5xx or a timeout is a 502,
 * so the message is not stored without it and Twilio may retry.
 */
async function incomingMedia(
  request: FastifyRequest, credentials: TwilioCredentials, msg: TwilioIncoming, maxBytes: number, options: TwilioRequestOptions,
): Promise<InboundMedia[]> {
  const out: InboundMedia[] = [];
  let left = maxBytes;
  for (const [i, item] of msg.media.entries()) {
    try {
      const { content, contentType } = await fetchMedia(credentials, item.url, left, options);
      left -= content.length;
      out.push({ filename: null, content_type: item.contentType ?? contentType ?? 'application/octet-stream', content });
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      if (err.retryable) throw new AppError('upstream_failed', `Media ${i} of ${msg.messageSid} could not be fetched: ${err.message}`, { retryable: true });
      request.log.warn({ messageSid: msg.messageSid, media: i, reason: err.message }, 'incoming media left out');
    }
  }
  return out;
}

/** Registers Twilio's webhook routes (a scope of their own, with the form-body parser). */
export function twilioRoutes(app: Api, ctx: ApiContext): void {
  const { store, config, clock, metrics } = ctx;
  app.register(async (plugin) => {
    const scope = plugin.withTypeProvider<TypeBoxTypeProvider>();
    await scope.register(formbody);

    scope.post('/v1/inbound/twilio/:account_id/messages', {
      config: { providerAuth: true },
      schema: {
        tags: ['inbound'], summary: 'Twilio: a message came in (set as the number\'s "A message comes in" webhook)',
        security: [], params: Params, body: Form, response: responses,
      },
    }, async (request, reply) => {
      const { account, credentials } = await signedAccount(ctx, request, request.params.account_id);
      const msg = parseIncoming(request.body);
      if (typeof msg === 'string') throw new AppError('validation_failed', `The webhook has no ${msg}.`, { param: msg });
      const media = await incomingMedia(request, credentials, msg, config.maxMessageBytes, {
        timeoutMs: config.providerTimeoutMs, outboundAllowPrivate: config.outboundAllowPrivate,
      });
      await receiveInbound(store, account, { from: msg.from, text: msg.body, media, providerMessageId: msg.messageSid }, clock, metrics);
      return reply.type('text/xml; charset=utf-8').send(EMPTY_TWIML);
    });

    scope.post('/v1/inbound/twilio/:account_id/status', {
      config: { providerAuth: true },
      schema: {
        tags: ['inbound'], summary: 'Twilio: a message status callback (the StatusCallback of messages sent here)',
        security: [], params: Params, body: Form, response: responses,
      },
    }, async (request, reply) => {
      const { account } = await signedAccount(ctx, request, request.params.account_id);
      const update = parseStatus(request.body);
      if (typeof update === 'string') throw new AppError('validation_failed', `The callback has no ${update}.`, { param: update });
      if (update.status) await applyProviderStatus(store, account, update.messageSid, update.status, update.error, clock);
      return reply.type('text/xml; charset=utf-8').send(EMPTY_TWIML);
    });
  });
}
