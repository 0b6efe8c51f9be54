/**
 * The iMessage channel through a BlueBubbles server: outbound text and attachments,
 * tapbacks, read receipts and typing indicators, each one REST call (./client.ts) in the
 * one-to-one chat of the conversation's counterpart. The account's `config` holds `server_url`,
 * `password`, optionally `method` (`apple-script`, BlueBubbles' default, or
 * `private-api`) and `webhook_token` (inbound: ./webhook-route.ts).
 */
import type { AccountRow } from '../../store/identities.js';
import { accountConfig } from '../../services/channel-accounts.js';
import { UpstreamError, type ChannelAdapter, type OutboundMedia } from '../adapter.js';
import { BlueBubblesClient, chatGuidFor, TAPBACKS, type SendMethod, type Tapback } from './client.js';

/** What an iMessage account's `config` holds. */
export interface BlueBubblesAccountConfig extends Record<string, unknown> {
  /** Base URL of the BlueBubbles server. */
  readonly server_url: string;
  /** The BlueBubbles server password. */
  readonly password: string;
  /** How BlueBubbles sends text: `apple-script` (default) or `private-api`. */
  readonly method: SendMethod;
  /** The secret BlueBubbles' webhook URL carries as `?token=` (inbound). */
  readonly webhook_token: string;
}

export interface BlueBubblesAdapterOptions {
  /** Per-request timeout of the BlueBubbles API, ms (config `providerTimeoutMs`). */
  readonly timeoutMs: number;
  /** Config `outboundAllowPrivate`: whether a server URL may reach a private address. */
  readonly outboundAllowPrivate: boolean;
}

/**
 * The client for an account's BlueBubbles server.
 *
 * @throws UpstreamError (not retryable, account `error`) when `server_url` or `password` is missing.
 */
export function clientFor(account: AccountRow, options: BlueBubblesAdapterOptions): { client: BlueBubblesClient; method: SendMethod } {
  const config = accountConfig<BlueBubblesAccountConfig>(account);
  if (typeof config.server_url !== 'string' || !config.server_url || typeof config.password !== 'string' || !config.password) {
    throw new UpstreamError(`The iMessage account ${account.id} has no BlueBubbles \`server_url\` and \`password\` in its config.`, {
      retryable: false, accountStatus: 'error',
    });
  }
  const method: SendMethod = config.method === 'private-api' ? 'private-api' : 'apple-script';
  return { client: new BlueBubblesClient({ serverUrl: config.server_url, password: config.password, timeoutMs: options.timeoutMs, outboundAllowPrivate: options.outboundAllowPrivate }), method };
}

/** File name extensions of the upload types (services/media.ts), for attachments uploaded without a name: iMessage shows a file by its extension. */
const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/jpeg': '.jpg', 'image/png': '.png', 'image/gif': '.gif', 'image/webp': '.webp', 'video/mp4': '.mp4',
  'audio/mpeg': '.mp3', 'audio/mp4': '.m4a', 'application/pdf': '.pdf', 'text/plain': '.txt', 'text/vcard': '.vcf',
};

/** The name an attachment is sent under: its own, else `attachment-N` with its type's extension. */
function attachmentName(media: OutboundMedia, index: number): string {
  return media.filename ?? `attachment-${index + 1}${EXTENSIONS[media.content_type] ?? ''}`;
}

const guidOf = (sent: { guid?: unknown }): string | null => (typeof sent.guid === 'string' && sent.guid ? sent.guid : null);

/**
 * The iMessage adapter. `send` sends each attachment as a message of its own (`POST
 * /api/v1/message/attachment`, tempGuid `<msg id>.<n>`), then the text with our `msg_…`
 * id as BlueBubbles' `tempGuid`, so the `new-message` webhook of our own message can be
 * matched to it; the provider message id is the text's `guid`, the attachments' guids
 * are the message's other parts. A failure midway fails the send (a retry sends every
 * part again).
 */
export function blueBubblesAdapter(options: BlueBubblesAdapterOptions): ChannelAdapter {
  return {
    channel: 'imessage',
    supportsMedia: true,
    reactions: TAPBACKS,
    async send(message) {
      const { client, method } = clientFor(message.account, options);
      const chatGuid = chatGuidFor(message.to);
      const partIds: string[] = [];
      for (const [i, media] of message.media.entries()) {
        const file = { name: attachmentName(media, i), contentType: media.content_type, bytes: await media.read() };
        const part = guidOf(await client.sendAttachment(chatGuid, `${message.messageId}.${i + 1}`, file, method));
        if (part) partIds.push(part);
      }
      const sent = await client.sendText(chatGuid, message.messageId, message.text, method);
      return { providerMessageId: guidOf(sent), status: 'sent', partIds };
    },
    async react(reaction) {
      if (!(TAPBACKS as readonly string[]).includes(reaction.reaction)) {
        throw new UpstreamError(`iMessage has no tapback "${reaction.reaction}".`, { retryable: false });
      }
      const { client } = clientFor(reaction.account, options);
      await client.react(chatGuidFor(reaction.to), reaction.providerMessageId, reaction.reaction as Tapback, reaction.removed);
    },
    async markRead(account, to) {
      await clientFor(account, options).client.markRead(chatGuidFor(to));
    },
    async typing(account, to, state) {
      await clientFor(account, options).client.typing(chatGuidFor(to), state);
    },
  };
}
