/**
 * What an agent tells the person besides messages (SPEC sections 3 and 6): reactions
 * (`POST …/reactions`), read receipts (`POST …/read`) and typing indicators
 * (`POST …/typing`), passed to the conversation's channel where its adapter has the
 * feature, and refused with 409 in a released shared-line conversation or through an
 * unhealthy account, and with 403 `recipient_blocked` when a contact rule blocks the
 * person (Inkbox, "Mark conversation read" and "Send typing indicator": 403 for a
 * blocked recipient); a refused signal never reaches the provider. Email has none of
 * them: a reaction there is only recorded.
 */
import { isoNow, systemClock, type Clock } from '../clock.js';
import { UpstreamError, type ChannelAdapter } from '../channels/adapter.js';
import type { Actor, TimelineEvent } from '../domain/events.js';
import { AppError, notFound } from '../errors.js';
import { findConversation } from '../store/conversations.js';
import type { AccountRow } from '../store/identities.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import { appendEvents, type ConversationRow } from '../store/timeline.js';
import { setAccountHealth } from './channel-accounts.js';
import { blockedAmong } from './contact-rules.js';
import { assertCanSend, sendingAccount, type ChannelAdapters } from './send-channel.js';

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
  const account = await sendingAccount(db, conversation);
  assertCanSend(conversation, account);
  return account;
}

const adapterOf = (adapters: ChannelAdapters, conversation: ConversationRow): ChannelAdapter | undefined =>
  conversation.channel === 'email' ? undefined : adapters[conversation.channel as keyof ChannelAdapters];

/**
 * Refuses a signal (read receipt, typing indicator, reaction) to a counterpart whom a
 * contact rule blocks for the conversation's identity; checked when the signal would
 * reach the channel, so a blocked person never sees it.
 *
 * @param what the signal, for the message (`read receipts`, …).
 * @throws AppError `recipient_blocked` (403).
 */
export async function assertSignalAllowed(db: Store['db'], conversation: ConversationRow, what: string): Promise<void> {
  const to = conversation.counterpart;
  if (!to) return;
  const rule = (await blockedAmong(db, conversation.org_id, conversation.identity_id, [to])).get(to);
  if (!rule) return;
  throw new AppError('recipient_blocked', `A contact rule (${rule.id}: block ${rule.kind} ${rule.pattern}) blocks ${to}: ${what} are not sent to them.`, {
    fix: `Nothing was sent or changed. To clear the unread count without telling the person, PATCH /v1/conversations/${conversation.id} with {"unread_count": 0}; delete the rule (DELETE /v1/contact_rules/${rule.id}) or add an allow rule if the block is a mistake.`,
  });
}

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
      await assertSignalAllowed(store.db, conversation, 'reactions');
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
 * Sends the read receipt of a conversation, when its channel has read receipts
 * (iMessage), whatever is unread: Inkbox, "Mark conversation read": "`updated_count: 0`
 * means no inbound messages needed updating; the read receipt is still sent". `POST
 * …/read` calls it before committing the read, so a refused or failed receipt changes
 * nothing and a retry is safe.
 *
 * @returns true when a receipt went out, false when the channel has none.
 * @throws AppError `connection_released`, `sender_disconnected` (409), `recipient_blocked`
 *   (403), `upstream_failed` (502; `retryable` as the provider's failure).
 */
export async function sendReadReceipt(store: Store, adapters: ChannelAdapters, conversation: ConversationRow, clock: Clock = systemClock): Promise<boolean> {
  const adapter = adapterOf(adapters, conversation);
  if (!adapter?.markRead || !conversation.counterpart) return false;
  const markRead = adapter.markRead.bind(adapter);
  const to = conversation.counterpart;
  const account = await channelAccount(store.db, conversation);
  await assertSignalAllowed(store.db, conversation, 'read receipts');
  await callProvider(store, account, 'send the read receipt', () => markRead(account, to), clock);
  return true;
}

/**
 * Passes a typing indicator to the conversation's channel, when it has one.
 *
 * @throws AppError `connection_released`, `sender_disconnected` (409; any non-email
 *   conversation), `recipient_blocked` (403; where the channel has typing indicators),
 *   `upstream_failed` (502).
 */
export async function sendTyping(
  store: Store, adapters: ChannelAdapters, conversation: ConversationRow, state: 'started' | 'stopped', clock: Clock = systemClock,
): Promise<void> {
  if (conversation.channel === 'email') return;
  const account = await channelAccount(store.db, conversation);
  const adapter = adapterOf(adapters, conversation);
  if (!adapter?.typing || !conversation.counterpart) return;
  await assertSignalAllowed(store.db, conversation, 'typing indicators');
  const typing = adapter.typing.bind(adapter);
  const to = conversation.counterpart;
  await callProvider(store, account, 'send the typing indicator', () => typing(account, to, state), clock);
}
