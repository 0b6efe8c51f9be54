/**
 * What an agent tells the person besides messages (SPEC sections 3 and 6): reactions
 * (`POST …/reactions`), read receipts (`POST …/read`) and typing indicators
 * (`POST …/typing`), passed to the conversation's channel where its adapter has the
 * feature, and refused with 409 in a released shared-line conversation or through an
 * unhealthy account. Email has none of them: a reaction there is only recorded.
 */
import { isoNow, systemClock, type Clock } from '../clock.js';
import { UpstreamError, type ChannelAdapter } from '../channels/adapter.js';
import type { Actor, TimelineEvent } from '../domain/events.js';
import { AppError, notFound } from '../errors.js';
import { findConversation } from '../store/conversations.js';
import { findAccount, type AccountRow } from '../store/identities.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import { appendEvents, type ConversationRow } from '../store/timeline.js';
import { setAccountHealth } from './channel-accounts.js';
import { assertCanSend, type ChannelAdapters } from './send-channel.js';

/** A reaction given through the API. */
export interface ReactionInput {
  /** `msg_…` id of a message of the conversation. */
  readonly message_id: string;
  /** A tapback name (iMessage: `love`, `like`, `dislike`, `laugh`, `emphasize`, `question`) or, elsewhere, any short text such as an emoji. */
  readonly reaction: string;
  /** True takes the reaction back. */
  readonly removed?: boolean;
}

/**
 * Runs one provider call for `account`; a failure updates the account's health (when the
 * adapter says how) and becomes 502 `upstream_failed` (`retryable` as the adapter says).
 *
 * @throws AppError `upstream_failed`.
 */
export async function callProvider<T>(store: Store, account: AccountRow, what: string, call: () => Promise<T>, clock: Clock = systemClock): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err;
    if (err.accountStatus) await setAccountHealth(store, account, err.accountStatus, err.message, clock);
    throw new AppError('upstream_failed', `The ${account.channel} provider failed to ${what}: ${err.message}`, { retryable: err.retryable, cause: err });
  }
}

/** The conversation's account, checked for acting on the channel (non-email conversations only). */
async function channelAccount(db: Store['db'], conversation: ConversationRow): Promise<AccountRow> {
  const account = await findAccount(db, conversation.org_id, conversation.account_id);
  if (!account) throw notFound('conversation');
  assertCanSend(conversation, account);
  return account;
}

const adapterOf = (adapters: ChannelAdapters, conversation: ConversationRow): ChannelAdapter | undefined =>
  conversation.channel === 'email' ? undefined : adapters[conversation.channel as keyof ChannelAdapters];

/**
 * Reacts to a message of a conversation: sends the reaction through the channel when its
 * adapter has `react` (iMessage tapbacks), then records an outbound `reaction` event (`by`
 * the caller). The channel is told first, so a reaction the provider refused is not on
 * the timeline.
 *
 * @throws AppError `not_found` (conversation, or no such message in it), `connection_released`,
 *   `sender_disconnected` (409), `validation_failed` (a reaction the channel does not take, or
 *   a message the provider has no id for), `upstream_failed` (502).
 */
export async function reactToMessage(
  store: Store, adapters: ChannelAdapters, orgId: string, conversationId: string, input: ReactionInput, by: Actor, clock: Clock = systemClock,
): Promise<TimelineEvent & { type: 'reaction' }> {
  const conversation = await findConversation(store.db, orgId, conversationId);
  if (!conversation) throw notFound('conversation');
  const message = await store.db.selectFrom('messages').select(['id', 'provider_message_id'])
    .where('org_id', '=', orgId).where('conversation_id', '=', conversation.id).where('id', '=', input.message_id).executeTakeFirst();
  if (!message) throw new AppError('not_found', 'No message with that id in this conversation.', { param: 'message_id' });
  const removed = input.removed ?? false;
  const adapter = adapterOf(adapters, conversation);
  if (conversation.channel !== 'email') {
    const account = await channelAccount(store.db, conversation);
    if (adapter?.react) {
      if (adapter.reactions && !adapter.reactions.includes(input.reaction)) {
        throw new AppError('validation_failed', `The ${conversation.channel} channel has no reaction "${input.reaction}".`, {
          param: 'reaction', fix: `Send one of: ${adapter.reactions.join(', ')}.`,
        });
      }
      if (!message.provider_message_id || !conversation.counterpart) {
        throw new AppError('validation_failed', `The message ${message.id} never reached the ${conversation.channel} provider, so it cannot be reacted to.`, {
          param: 'message_id', fix: 'React to a message that was delivered (it has a provider message id).',
        });
      }
      const react = adapter.react.bind(adapter);
      const target = { account, to: conversation.counterpart, providerMessageId: message.provider_message_id, reaction: input.reaction, removed };
      await callProvider(store, account, 'send the reaction', () => react(target), clock);
    }
  }
  return inOrgTransaction(store, orgId, async (tx) => {
    const current = await findConversation(tx, orgId, conversation.id);
    if (!current) throw notFound('conversation');
    const { events } = await appendEvents(tx, current, [{
      type: 'reaction', at: isoNow(clock),
      data: { message_id: message.id, reaction: input.reaction, removed, direction: 'outbound', by },
    }]);
    return events[0] as TimelineEvent & { type: 'reaction' };
  });
}

/**
 * Sends the read receipt of a conversation whose inbound messages were just marked read,
 * when its channel has read receipts. Best effort: the read is committed already, so a
 * provider failure (or an unhealthy account) is returned, for the caller to log, and
 * never thrown; an unreachable provider still updates the account's health.
 *
 * @returns null when the receipt went out or the channel has none; otherwise why it did not.
 */
export async function sendReadReceipt(store: Store, adapters: ChannelAdapters, conversation: ConversationRow, clock: Clock = systemClock): Promise<string | null> {
  const adapter = adapterOf(adapters, conversation);
  if (!adapter?.markRead || !conversation.counterpart) return null;
  const markRead = adapter.markRead.bind(adapter);
  const to = conversation.counterpart;
  try {
    const account = await channelAccount(store.db, conversation);
    await callProvider(store, account, 'send the read receipt', () => markRead(account, to), clock);
    return null;
  } catch (err) {
    if (err instanceof AppError) return err.message;
    throw err;
  }
}

/**
 * Passes a typing indicator to the conversation's channel, when it has one.
 *
 * @throws AppError `connection_released`, `sender_disconnected` (409; any non-email
 *   conversation), `upstream_failed` (502).
 */
export async function sendTyping(
  store: Store, adapters: ChannelAdapters, conversation: ConversationRow, state: 'started' | 'stopped', clock: Clock = systemClock,
): Promise<void> {
  if (conversation.channel === 'email') return;
  const account = await channelAccount(store.db, conversation);
  const adapter = adapterOf(adapters, conversation);
  if (!adapter?.typing || !conversation.counterpart) return;
  const typing = adapter.typing.bind(adapter);
  const to = conversation.counterpart;
  await callProvider(store, account, 'send the typing indicator', () => typing(account, to, state), clock);
}
