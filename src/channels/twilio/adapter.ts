/**
 * The SMS channel's outbound side over Twilio's Messages API: a committed message becomes
 * one `POST …/Messages.json` from the account's number, with a status callback to this
 * server's `/v1/inbound/twilio/{account_id}/status` when the public URL is known.
 */
import { accountConfig } from '../../services/channel-accounts.js';
import { UpstreamError, type ChannelAdapter } from '../adapter.js';
import { createMessage, twilioCredentials } from './client.js';
import { twilioWebhookPath } from './webhooks.js';

export interface TwilioAdapterConfig {
  /** Per-request timeout, ms. */
  readonly timeoutMs: number;
  /** This server's public URL (config `publicUrl`); null: sends carry no status callback. */
  readonly publicUrl: string | null;
}

/**
 * The `sms` adapter. Text only for now (`supportsMedia: false`).
 *
 * Account config: `account_sid`, `auth_token`, `base_url` (default `https://api.twilio.com`).
 * `send` answers `status: 'queued'` with the message's `sid`; delivery is told later by
 * status callbacks. It throws {@link UpstreamError} as services/send-channel.ts expects
 * (an account without credentials is `error`, like one whose credentials Twilio refuses).
 */
export function twilioAdapter(config: TwilioAdapterConfig): ChannelAdapter {
  return {
    channel: 'sms',
    supportsMedia: false,
    async send(message) {
      const credentials = twilioCredentials(accountConfig(message.account));
      if (!credentials) {
        throw new UpstreamError('the account\'s config lacks the Twilio account_sid or auth_token', { retryable: false, accountStatus: 'error' });
      }
      const statusCallback = config.publicUrl ? `${config.publicUrl}${twilioWebhookPath(message.account.id, 'status')}` : null;
      const { sid } = await createMessage(credentials, {
        to: message.to, from: message.account.address, body: message.text, statusCallback,
      }, config.timeoutMs);
      return { providerMessageId: sid, status: 'queued' };
    },
  };
}
