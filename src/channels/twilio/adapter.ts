/**
 * The SMS channel's outbound side over Twilio's Messages API: a committed message becomes
 * one `POST …/Messages.json` from the account's number, with a status callback to this
 * server's `/v1/inbound/twilio/{account_id}/status` when the public URL is known.
 */
import type { Config } from '../../config.js';
import { signedMediaUrl } from '../../media/signed-url.js';
import { accountConfig } from '../../services/channel-accounts.js';
import { UpstreamError, type ChannelAdapter } from '../adapter.js';
import { createMessage, twilioCredentials } from './client.js';
import { twilioWebhookPath } from './webhooks.js';

export interface TwilioAdapterConfig {
  /** Per-request timeout, ms. */
  readonly timeoutMs: number;
  /** This server's public URL (config `publicUrl`); null: sends carry no status callback and no media. */
  readonly publicUrl: string | null;
  /** Key of the signed media URLs Twilio fetches attachments from (config `mediaUrlSecret`). */
  readonly mediaUrlSecret: Config['mediaUrlSecret'];
  /** Whether an account's `base_url` may reach a private address (config `outboundAllowPrivate`). */
  readonly outboundAllowPrivate: boolean;
}

/** How long Twilio may fetch an attachment's URL, ms (it fetches when it sends, within seconds). */
const MEDIA_URL_TTL_MS = 60 * 60 * 1000;

/**
 * The `sms` adapter. Attachments go as MMS: each one's signed public URL
 * (media/signed-url.ts) as a `MediaUrl` parameter, which Twilio fetches; so media need
 * the server's public URL (`supportsMedia` is false without it).
 *
 * Account config: `account_sid`, `auth_token`, `base_url` (default `https://api.twilio.com`).
 * `send` answers `status: 'queued'` with the message's `sid`; delivery is told later by
 * status callbacks. It throws {@link UpstreamError} as services/send-channel.ts expects
 * (an account without credentials is `error`, like one whose credentials Twilio refuses).
 */
export function twilioAdapter(config: TwilioAdapterConfig): ChannelAdapter {
  return {
    channel: 'sms',
    supportsMedia: config.publicUrl !== null,
    async send(message) {
      const credentials = twilioCredentials(accountConfig(message.account));
      if (!credentials) {
        throw new UpstreamError('the account\'s config lacks the Twilio account_sid or auth_token', { retryable: false, accountStatus: 'error' });
      }
      const statusCallback = config.publicUrl ? `${config.publicUrl}${twilioWebhookPath(message.account.id, 'status')}` : null;
      const mediaUrls = message.media.map((m) => signedMediaUrl(config, m.id, MEDIA_URL_TTL_MS));
      const { sid } = await createMessage(credentials, {
        to: message.to, from: message.account.address, body: message.text, statusCallback, mediaUrls,
      }, config);
      return { providerMessageId: sid, status: 'queued' };
    },
  };
}
