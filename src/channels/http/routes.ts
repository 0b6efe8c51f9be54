/**
 * `POST /v1/inbound/http/{account_id}`: the generic HTTP channel's webhook, for accounts
 * on the `linkedin` and `http` channels (docs/channels.md, "HTTP channel"). No API key:
 * the post must be signed per Standard Webhooks with the account's secret, checked over
 * the raw body bytes before anything is parsed or stored. A bad, missing or stale
 * signature (and an unknown account, which looks the same) is a 401 `invalid_signature`.
 * The answer is sent after the commit.
 */
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Config } from '../../config.js';
import { canonicalAddress } from '../../domain/addresses.js';
import type { Channel } from '../../domain/events.js';
import { AppError } from '../../errors.js';
import { isId } from '../../ids.js';
import { accountConfig } from '../../services/channel-accounts.js';
import { receiveReaction, receiveStatus } from '../../services/inbound-signals.js';
import { receiveInbound } from '../../services/inbound.js';
import type { InboundMedia } from '../../services/ingest-channel.js';
import type { AccountRow } from '../../store/identities.js';
import type { Store } from '../../store/store.js';
import type { Api, ApiContext } from '../../api/app.js';
import { Problem } from '../../api/schemas.js';
import { rejectNul } from '../../api/validation.js';
import type { HttpAccountConfig } from './adapter.js';
import { verifySignature } from './signing.js';
import { HttpInbound, HttpInboundAck } from './wire.js';
import { outboundFailure, outboundFetch, readAtMost, refusalOf } from '../../net/outbound.js';

/** The channels this webhook serves. */
export const HTTP_CHANNELS: readonly Channel[] = ['linkedin', 'http'];

const Params = Type.Object({ account_id: Type.String({ maxLength: 100 }) });

async function httpAccount(store: Store, id: string): Promise<AccountRow | undefined> {
  if (!isId('acct', id)) return undefined;
  const row = await store.db.selectFrom('channel_accounts').selectAll().where('id', '=', id).executeTakeFirst();
  return row && (HTTP_CHANNELS as readonly string[]).includes(row.channel) ? row : undefined;
}

const invalidSignature = () => new AppError('invalid_signature', 'The request is not signed with this account\'s secret (or the signature is older than 5 minutes).');

export function httpChannelRoutes(app: Api, { store, config, clock, metrics }: ApiContext): void {
  /** The account each verified request is for. */
  const verified = new WeakMap<FastifyRequest, AccountRow>();

  /** Fetches or decodes an inbound message's media, each at most `maxMediaBytes`. */
  const inboundMedia = async (media: readonly { url?: string; data?: string; content_type: string; filename?: string | null }[]): Promise<InboundMedia[]> => {
    const out: InboundMedia[] = [];
    for (const [i, m] of media.entries()) {
      const param = `media.${i}`;
      if ((m.url === undefined) === (m.data === undefined)) throw new AppError('validation_failed', 'Each media item has exactly one of `url` and `data`.', { param });
      let content: Buffer;
      if (m.data !== undefined) {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(m.data)) throw new AppError('validation_failed', '`data` is not base64.', { param: `${param}.data` });
        content = Buffer.from(m.data, 'base64');
      } else {
        content = await fetchMedia(config, m.url!, config.maxMediaBytes, `${param}.url`);
      }
      if (content.length > config.maxMediaBytes) {
        throw new AppError('payload_too_large', `Media item ${i} is ${content.length} bytes; the limit is ${config.maxMediaBytes}.`, { param });
      }
      out.push({ content, content_type: m.content_type.split(';')[0]!.trim().toLowerCase(), filename: m.filename ?? null });
    }
    return out;
  };

  app.register(async (scope) => {
    // This route's body is read as raw bytes (any content type), so the signature is
    // checked over exactly what was signed; it is parsed as JSON only after that.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.maxMessageBytes }, (_req, body, done) => done(null, body));

    (scope as unknown as Api).post('/v1/inbound/http/:account_id', {
      config: { providerAuth: true },
      bodyLimit: config.maxMessageBytes,
      schema: {
        tags: ['inbound'],
        summary: 'HTTP channel (LinkedIn through a provider, or any other): a signed message, status or reaction',
        description: 'Signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the account\'s `secret`. See docs/channels.md.',
        security: [],
        params: Params,
        body: HttpInbound,
        response: { 200: HttpInboundAck, 400: Problem, 401: Problem, 413: Problem, 502: Problem },
      },
      preValidation: async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const account = await httpAccount(store, (request.params as { account_id: string }).account_id);
        const secret = account && accountConfig<HttpAccountConfig>(account).secret;
        if (!account || typeof secret !== 'string' || !verifySignature(secret, request.headers, raw)) throw invalidSignature();
        verified.set(request, account);
        try {
          request.body = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new AppError('validation_failed', 'The body is not valid JSON.', { fix: 'POST a JSON object as documented in docs/channels.md (HTTP channel).' });
        }
        rejectNul('body', request.body);
      },
    }, async (request) => {
      const account = verified.get(request);
      if (!account) throw invalidSignature();
      const post = request.body;
      switch (post.type) {
        case 'message': {
          const from = canonicalAddress(account.channel as Channel, post.from.address);
          if (!from) throw new AppError('validation_failed', '`from.address` is empty.', { param: 'from.address' });
          const media = await inboundMedia(post.media ?? []);
          const result = await receiveInbound(store, account, {
            from, fromName: post.from.name ?? null, text: post.text, media, providerMessageId: post.id, sentAt: post.sent_at ?? null,
          }, clock, metrics);
          return {
            received: true as const, conversation_id: result.conversationId,
            message_id: result.status === 'stored' ? result.messageId : null, duplicate: result.status === 'duplicate',
          };
        }
        case 'status': {
          const found = await receiveStatus(store, account, post.message_id, post.status, post.error ?? null, clock);
          return { received: true as const, conversation_id: found?.conversation_id ?? null, message_id: found?.message_id ?? null, duplicate: false };
        }
        case 'reaction': {
          // A retried post carries the same `webhook-id` (Standard Webhooks): the reaction is stored once.
          const out = await receiveReaction(store, account, {
            providerMessageId: `webhook:${String(request.headers['webhook-id'])}`, targetProviderId: post.message_id,
            reaction: post.reaction, removed: post.removed ?? false, from: null,
          }, clock);
          return {
            received: true as const, conversation_id: out.status === 'stored' ? out.conversationId : null,
            message_id: out.status === 'stored' ? out.messageId : null, duplicate: out.status === 'duplicate',
          };
        }
      }
    });
  });
}

/**
 * GETs an inbound attachment the provider gave by URL.
 *
 * @throws AppError `upstream_failed` (502, retryable: the provider retries the post),
 *   `validation_failed` (the URL reaches a private address and those are not allowed),
 *   `payload_too_large` (over `maxBytes`).
 */
async function fetchMedia(config: Pick<Config, 'providerTimeoutMs' | 'outboundAllowPrivate'>, url: string, maxBytes: number, param: string): Promise<Buffer> {
  let res: Response;
  try {
    res = await outboundFetch(config, url, { redirect: 'follow', signal: AbortSignal.timeout(config.providerTimeoutMs) });
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal) throw new AppError('validation_failed', `${param} is refused: ${refusal.message}.`, { param });
    throw new AppError('upstream_failed', `Fetching ${param} failed: ${outboundFailure(err, config.providerTimeoutMs)}.`, { param, retryable: true });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new AppError('upstream_failed', `Fetching ${param} failed: HTTP ${res.status}.`, { param, retryable: true });
  }
  const { body, complete } = await readAtMost(res, maxBytes);
  if (!complete) throw new AppError('payload_too_large', `${param} is over the limit of ${maxBytes} bytes.`, { param });
  return body;
}
