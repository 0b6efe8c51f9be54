/**
 * Messages out on every channel but email: send by conversation id. The message is
 * committed (`queued`) before the provider is called, so nothing acknowledged is lost;
 * the provider's answer is appended as `message_status`. A provider that fails with a
 * 5xx, a timeout or a refused connection makes the send a 502 `upstream_failed`
 * (`retryable: true`); the message stays on the timeline as `failed`.
 */
import type { Transaction } from 'kysely';
import { isoNow, systemClock, type Clock } from '../clock.js';
import type { ChannelAdapter, OutboundMedia } from '../channels/adapter.js';
import { HEALTHY_STATUSES, UpstreamError } from '../channels/adapter.js';
import type { Channel, MediaRef, MessageData } from '../domain/events.js';
import { snippetOf } from '../domain/snippet.js';
import { AppError, notFound } from '../errors.js';
import { newId } from '../ids.js';
import { findConversation } from '../store/conversations.js';
import { findAccount, type AccountRow } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import { appendEvents, type ConversationRow } from '../store/timeline.js';
import { setAccountHealth } from './channel-accounts.js';
import { assertRecipientsAllowed } from './contact-rules.js';
import { recordProviderId } from './ingest-channel.js';
import type { ReplyInput, SendResult } from './send-email.js';

/** The adapter of each channel this server can send on (email is services/send-email.ts). */
export type ChannelAdapters = Partial<Record<Channel, ChannelAdapter>>;

/** A reply on a non-email channel: text and, where the channel takes them, uploaded media. */
export interface ChannelReplyInput extends ReplyInput {
  /** `med_…` ids from `POST /v1/media`. */
  readonly media_ids?: readonly string[];
}

/**
 * Loads the uploads a send names (`media_ids`) inside the send's transaction `tx`.
 *
 * @throws AppError for ids the sender may not attach.
 */
export type MediaResolver = (
  tx: Transaction<Database>, orgId: string, ids: readonly string[],
) => Promise<{ refs: MediaRef[]; outbound: OutboundMedia[] }>;

/**
 * The adapter for a conversation's channel.
 *
 * @throws AppError `validation_failed` when this server has no adapter for it.
 */
export function adapterFor(adapters: ChannelAdapters, channel: string): ChannelAdapter {
  const adapter = adapters[channel as Channel];
  if (!adapter) throw new AppError('validation_failed', `This server cannot send on the ${channel} channel.`);
  return adapter;
}

/**
 * Refuses to act through an account that is not healthy, or in a conversation whose
 * shared-line connection was released.
 *
 * @throws AppError `sender_disconnected` (409), `connection_released` (409).
 */
export function assertCanSend(conversation: ConversationRow, account: AccountRow): void {
  if (conversation.connection_status === 'released') {
    throw new AppError('connection_released', `${conversation.counterpart ?? 'The person'} released the connection on this shared line.`);
  }
  if (!(HEALTHY_STATUSES as readonly string[]).includes(account.status)) {
    throw new AppError('sender_disconnected',
      `The sending account ${account.id} (${account.address}) is ${account.status}${account.status_reason ? `: ${account.status_reason}` : ''}.`);
  }
}

/** The conversation and its account, checked for sending. */
export async function sendingContext(
  db: Store['db'], orgId: string, conversationId: string,
): Promise<{ conversation: ConversationRow; account: AccountRow }> {
  const conversation = await findConversation(db, orgId, conversationId);
  if (!conversation) throw notFound('conversation');
  const account = await findAccount(db, orgId, conversation.account_id);
  if (!account) throw notFound('conversation');
  assertCanSend(conversation, account);
  return { conversation, account };
}

/**
 * Replies in a non-email conversation by its id, through the conversation's account.
 *
 * @throws AppError `not_found`, `connection_released`, `sender_disconnected`,
 *   `recipient_blocked`, `validation_failed` (media on a channel without media, unknown
 *   media id), `upstream_failed` (502, retryable: the provider failed; the message is
 *   recorded as `failed`).
 */
export async function sendChannelReply(
  store: Store, adapters: ChannelAdapters, orgId: string, conversationId: string, input: ChannelReplyInput,
  media: MediaResolver,
  clock: Clock = systemClock,
): Promise<SendResult> {
  const committed = await inOrgTransaction(store, orgId, async (tx) => {
    const conversation = await findConversation(tx, orgId, conversationId);
    if (!conversation) throw notFound('conversation');
    const account = await findAccount(tx, orgId, conversation.account_id);
    if (!account || !conversation.counterpart) throw notFound('conversation');
    assertCanSend(conversation, account);
    const adapter = adapterFor(adapters, conversation.channel);
    await assertRecipientsAllowed(tx, orgId, conversation.identity_id, [{ address: conversation.counterpart }]);
    const ids = input.media_ids ?? [];
    if (ids.length > 0 && !adapter.supportsMedia) {
      throw new AppError('validation_failed', `The ${conversation.channel} channel does not carry media on this server.`, {
        param: 'media_ids', fix: 'Send the text without `media_ids` (on the HTTP channel, media needs the server\'s PUBLIC_URL set).',
      });
    }
    const attached = ids.length ? await media(tx, orgId, ids) : { refs: [], outbound: [] };
    const now = new Date(clock.now());
    const nowIso = now.toISOString();
    const messageId = newId('msg');
    const data: MessageData = {
      message_id: messageId, direction: 'outbound', channel: conversation.channel as Channel, account_id: account.id,
      from: { address: account.address, name: account.display_name }, to: [{ address: conversation.counterpart, name: null }], cc: [], reply_to: [],
      subject: null, text: input.text, html: null, snippet: snippetOf(input.text, null), media: attached.refs,
      provider_message_id: null, status: 'queued', headers: { message_id: null, in_reply_to: null, references: [] },
      sent_at: nowIso, parse_problems: [],
      ...(input.no_reply_after !== undefined ? { no_reply_at: new Date(now.getTime() + input.no_reply_after).toISOString() } : {}),
    };
    const { events } = await appendEvents(tx, conversation, [{ type: 'message', at: nowIso, data }]);
    await tx.insertInto('messages').values({
      id: messageId, org_id: orgId, conversation_id: conversation.id, event_id: events[0]!.id,
      direction: 'outbound', status: 'queued', error: null, provider_message_id: null, created_at: nowIso, updated_at: nowIso,
    }).execute();
    if (attached.refs.length) {
      await tx.updateTable('media').set({ message_id: messageId }).where('org_id', '=', orgId).where('id', 'in', attached.refs.map((r) => r.id))
        .where('message_id', 'is', null).execute();
    }
    await tx.updateTable('channel_accounts').set({ last_sent_at: nowIso }).where('id', '=', account.id).execute();
    return { conversation, account, adapter, messageId, to: conversation.counterpart, outbound: attached.outbound };
  });

  let status: 'queued' | 'sent' | 'failed';
  let error: string | null = null;
  let providerMessageId: string | null = null;
  let upstream: UpstreamError | null = null;
  try {
    const outcome = await committed.adapter.send({
      account: committed.account, messageId: committed.messageId, conversationId: committed.conversation.id,
      to: committed.to, text: input.text, media: committed.outbound,
    });
    status = outcome.status;
    providerMessageId = outcome.providerMessageId;
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err;
    upstream = err;
    status = 'failed';
    error = err.message;
    if (err.accountStatus) await setAccountHealth(store, committed.account, err.accountStatus, err.message, clock);
  }
  await inOrgTransaction(store, orgId, async (tx) => {
    const conversation = await findConversation(tx, orgId, committed.conversation.id);
    if (!conversation) return;
    const at = isoNow(clock);
    if (status !== 'queued') {
      await appendEvents(tx, conversation, [{ type: 'message_status', at, data: { message_id: committed.messageId, status, error } }]);
    }
    await tx.updateTable('messages').set({ status, error, provider_message_id: providerMessageId, updated_at: at })
      .where('id', '=', committed.messageId).execute();
    if (providerMessageId) await recordProviderId(tx, committed.account, providerMessageId, committed.messageId, conversation.id);
  });
  if (upstream?.retryable) {
    throw new AppError('upstream_failed', `The ${committed.conversation.channel} provider failed: ${upstream.message}`, { retryable: true });
  }
  return { conversationId: committed.conversation.id, messageId: committed.messageId, status: status === 'failed' ? 'failed' : 'sent', error };
}
