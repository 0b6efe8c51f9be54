/**
 * The generic HTTP channel's outbound side (docs/channels.md, "HTTP channel"): each reply
 * is POSTed as JSON to the account's `outbound_url`, signed per Standard Webhooks with the
 * account's `secret`; media go as signed, expiring URLs of this server. One adapter class
 * serves both `linkedin` (through a LinkedIn messaging provider) and `http`.
 */
import type { Config } from '../../config.js';
import type { Channel } from '../../domain/events.js';
import { signedMediaUrl } from '../../media/signed-url.js';
import { accountConfig } from '../../services/channel-accounts.js';
import { UpstreamError, type ChannelAdapter, type OutboundMessage, type SendOutcome } from '../adapter.js';
import { signatureHeaders } from './signing.js';
import type { HttpOutboundAnswer, HttpOutboundMessage } from './wire.js';
import { outboundFailure, outboundFetch, readTextAtMost, refusalOf } from '../../net/outbound.js';

/** How long the media URLs of a send stay valid, ms (a provider fetches them soon after). */
export const MEDIA_URL_TTL_MS = 24 * 60 * 60 * 1000;
/** Read of a provider's answer to a send, bytes (an id, or an error; the rest is not read). */
const ANSWER_BYTES = 64 * 1024;

/** The account settings this channel reads from `config`. */
export interface HttpAccountConfig extends Record<string, unknown> {
  /** Where replies are POSTed (http or https). */
  outbound_url: string;
  /** `whsec_…` Standard Webhooks secret, both directions. */
  secret: string;
}

/** Longest provider error text kept on the message, characters. */
const ERROR_CHARS = 300;

/**
 * The HTTP channel adapter for `channel` (`linkedin` or `http`).
 *
 * `send` throws {@link UpstreamError}: retryable for a 5xx, a 429, a timeout
 * (`config.providerTimeoutMs`) or a refused connection; with `accountStatus: 'error'`
 * for a 401 or 403 (and for an account without `outbound_url` or `secret`); not
 * retryable for any other 4xx.
 */
export class HttpChannelAdapter implements ChannelAdapter {
  readonly channel: Channel;
  /** Media need URLs providers can reach: only with `publicUrl` set. */
  readonly supportsMedia: boolean;
  readonly #config: Pick<Config, 'providerTimeoutMs' | 'publicUrl' | 'mediaUrlSecret' | 'outboundAllowPrivate'>;

  constructor(channel: 'linkedin' | 'http', config: Pick<Config, 'providerTimeoutMs' | 'publicUrl' | 'mediaUrlSecret' | 'outboundAllowPrivate'>) {
    this.channel = channel;
    this.#config = config;
    this.supportsMedia = config.publicUrl !== null;
  }

  async send(message: OutboundMessage): Promise<SendOutcome> {
    const { outbound_url: url, secret } = accountConfig<HttpAccountConfig>(message.account);
    if (typeof url !== 'string' || !/^https?:\/\//.test(url) || typeof secret !== 'string') {
      throw new UpstreamError('the account has no `outbound_url` or `secret` in its config', { retryable: false, accountStatus: 'error' });
    }
    const payload: HttpOutboundMessage = {
      type: 'message', id: message.messageId, conversation_id: message.conversationId, to: message.to, from: message.account.address,
      text: message.text,
      media: message.media.map((m) => ({
        id: m.id, url: signedMediaUrl(this.#config, m.id, MEDIA_URL_TTL_MS), content_type: m.content_type, filename: m.filename, size_bytes: m.size_bytes,
      })),
    };
    const body = JSON.stringify(payload);
    let res: Response;
    try {
      res = await outboundFetch(this.#config, url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#config.providerTimeoutMs),
        headers: { 'content-type': 'application/json', 'user-agent': 'Switchboard-HTTP-Channel/1', ...signatureHeaders(secret, message.messageId, body) },
        body,
      });
    } catch (err) {
      const refusal = refusalOf(err);
      if (refusal) throw new UpstreamError(`the outbound_url is refused: ${refusal.message}`, { retryable: false, accountStatus: 'error' });
      throw new UpstreamError(outboundFailure(err, this.#config.providerTimeoutMs), { retryable: true });
    }
    const text = await readTextAtMost(res, ANSWER_BYTES);
    if (res.status >= 200 && res.status < 300) {
      return { providerMessageId: providerId(text), status: 'sent' };
    }
    const why = `HTTP ${res.status}${text ? `: ${text.slice(0, ERROR_CHARS)}` : ''}`;
    if (res.status === 401 || res.status === 403) throw new UpstreamError(why, { retryable: false, status: res.status, accountStatus: 'error' });
    throw new UpstreamError(why, { retryable: res.status >= 500 || res.status === 429, status: res.status });
  }
}

/** The provider's `id` from a 2xx answer, or null (no body, not JSON, no string id). */
function providerId(text: string): string | null {
  if (!text) return null;
  try {
    const answer = JSON.parse(text) as HttpOutboundAnswer | null;
    const id = answer?.id;
    return typeof id === 'string' && id.length > 0 && id.length <= 500 ? id : null;
  } catch {
    return null;
  }
}
