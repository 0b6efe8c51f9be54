/**
 * Translates a BlueBubbles webhook (BlueBubbles docs, "REST API & Webhooks": every event
 * is `{ "type": "<event key>", "data": … }`) into what the core does with it. Pure: no
 * store, no network. The events handled:
 *
 * - `new-message`: a message from the person (→ an inbound message); a tapback, which is a
 *   message with `associatedMessageGuid` (the target, prefixed `p:<part>/` or `bp:`) and
 *   `associatedMessageType` (`love` … `question`, `-love` … to remove; older servers send
 *   the codes 2000–2005 / 3000–3005) (→ a reaction); our own message (`isFromMe`), whose
 *   `tempGuid` names the message we sent (→ its provider id).
 * - `updated-message` and `message-send-error`: delivery (`dateDelivered`), read
 *   (`dateRead`) and failure (`error` ≠ 0) of our own messages (→ message status).
 * - `typing-indicator`: `{ display, guid: chatGuid }` (→ a live typing signal).
 * - `chat-read-status-changed` is ignored: it reports the Mac user's own read state of a
 *   chat, not the person's read receipts (those come as `updated-message` with `dateRead`).
 *   Every other event key is ignored too.
 *
 * Group chats (`iMessage;+;…`) are ignored: a conversation has one counterpart.
 * Attachments are not fetched; their message is kept with its text.
 */
import { canonicalAddress } from '../../domain/addresses.js';
import type { MessageStatus } from '../../domain/events.js';
import type { InboundMessage } from '../../services/ingest-channel.js';
import { addressOfChatGuid, TAPBACKS } from './client.js';

/** What one webhook asks of the core. */
export type BlueBubblesEvent =
  | { readonly kind: 'message'; readonly message: InboundMessage }
  | { readonly kind: 'reaction'; readonly guid: string; readonly target: string; readonly reaction: string; readonly removed: boolean; readonly from: string | null }
  | { readonly kind: 'echo'; readonly guid: string; readonly tempGuid: string }
  | { readonly kind: 'status'; readonly guid: string; readonly tempGuid: string | null; readonly status: MessageStatus; readonly error: string | null }
  | { readonly kind: 'typing'; readonly counterpart: string; readonly state: 'started' | 'stopped' }
  | { readonly kind: 'ignored'; readonly reason: string };

type Data = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
const isObject = (v: unknown): v is Data => typeof v === 'object' && v !== null && !Array.isArray(v);
const ignored = (reason: string): BlueBubblesEvent => ({ kind: 'ignored', reason });

/** Largest time JavaScript dates hold (ECMA-262 §21.4.1.1), ms. */
const MAX_DATE_MS = 8.64e15;

/** A BlueBubbles date (Unix ms), as RFC 3339, or null (none, or out of range). */
function date(v: unknown): string | null {
  const ms = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(ms) && ms > 0 && ms <= MAX_DATE_MS ? new Date(ms).toISOString() : null;
}

/**
 * The tapback an `associatedMessageType` names: `love` … `question` add one, `-love` …
 * remove it; the numeric codes 2000–2005 and 3000–3005 (as numbers or strings) likewise.
 * Null for anything else (0 or null: not associated; 1000: a sticker; others).
 */
export function tapbackOf(type: unknown): { reaction: string; removed: boolean } | null {
  const code = typeof type === 'number' ? type : typeof type === 'string' && /^\d+$/.test(type) ? Number(type) : null;
  if (code !== null) {
    if (code >= 2000 && code <= 2005) return { reaction: TAPBACKS[code - 2000]!, removed: false };
    if (code >= 3000 && code <= 3005) return { reaction: TAPBACKS[code - 3000]!, removed: true };
    return null;
  }
  if (typeof type !== 'string') return null;
  const removed = type.startsWith('-');
  const name = removed ? type.slice(1) : type;
  return (TAPBACKS as readonly string[]).includes(name) ? { reaction: name, removed } : null;
}

/** The guid an `associatedMessageGuid` points at, without its part prefix (`p:0/GUID`, `bp:GUID`). */
export function associatedTarget(guid: string): string {
  return guid.replace(/^p:\d+\//, '').replace(/^bp:/, '');
}

/** The one-to-one chat of a message: its first chat's guid, when it has chats. */
function chatOf(data: Data): { group: boolean; address: string | null } {
  const chats = Array.isArray(data.chats) ? data.chats : [];
  const chatGuid = str(isObject(chats[0]) ? chats[0].guid : null) ?? str(data.chatGuid);
  if (!chatGuid) return { group: false, address: null };
  const address = addressOfChatGuid(chatGuid);
  return { group: address === null, address };
}

/** The person who sent a message: its `handle.address`, else the one-to-one chat's counterpart; canonical (E.164 or lower-case email). */
function senderOf(data: Data): string | null {
  const handle = isObject(data.handle) ? str(data.handle.address) : null;
  const raw = handle ?? chatOf(data).address;
  return raw ? canonicalAddress('imessage', raw) : null;
}

function newMessage(data: Data): BlueBubblesEvent {
  const guid = str(data.guid);
  if (!guid) return ignored('the message has no guid');
  const associated = str(data.associatedMessageGuid);
  const tapback = tapbackOf(data.associatedMessageType);
  if (data.isFromMe === true) {
    const tempGuid = str(data.tempGuid);
    if (associated || tapback) return ignored('our own tapback');
    return tempGuid ? { kind: 'echo', guid, tempGuid } : ignored('a message sent from the Mac, not through Switchboard');
  }
  if (chatOf(data).group) return ignored('group chats are not supported');
  const from = senderOf(data);
  if (associated && tapback) {
    return { kind: 'reaction', guid, target: associatedTarget(associated), reaction: tapback.reaction, removed: tapback.removed, from };
  }
  if (associated && data.associatedMessageType !== null && data.associatedMessageType !== undefined && data.associatedMessageType !== 0 && data.associatedMessageType !== '0') {
    return ignored('an associated message that is not a tapback (a sticker or similar)');
  }
  if (typeof data.itemType === 'number' && data.itemType !== 0) return ignored('a chat event, not a message');
  if (!from) return ignored('the sender has no phone number or email address');
  // U+FFFC stands in the text for each attachment.
  const text = typeof data.text === 'string' ? data.text.replace(/\uFFFC/g, '').trim() : '';
  const attachments = Array.isArray(data.attachments) ? data.attachments.length : 0;
  if (!text && attachments === 0) return ignored('an empty message');
  return {
    kind: 'message',
    message: { from, text: text || null, providerMessageId: guid, sentAt: date(data.dateCreated) },
  };
}

function updatedMessage(data: Data, sendError: boolean): BlueBubblesEvent {
  const guid = str(data.guid);
  if (!guid) return ignored('the message has no guid');
  if (data.isFromMe === false) return ignored('an update of the person\'s message');
  const tempGuid = str(data.tempGuid);
  const code = typeof data.error === 'number' ? data.error : 0;
  if (sendError || code !== 0) return { kind: 'status', guid, tempGuid, status: 'failed', error: `iMessage error ${code}` };
  if (date(data.dateRead)) return { kind: 'status', guid, tempGuid, status: 'read', error: null };
  if (date(data.dateDelivered)) return { kind: 'status', guid, tempGuid, status: 'delivered', error: null };
  return tempGuid ? { kind: 'echo', guid, tempGuid } : ignored('no delivery or read date');
}

/**
 * Translates one webhook body (`{ type, data }`).
 *
 * @returns what to do; `ignored` (with the reason) for anything the core does not take.
 */
export function translateWebhook(type: string, data: unknown): BlueBubblesEvent {
  switch (type) {
    case 'new-message':
      return isObject(data) ? newMessage(data) : ignored('the message is not an object');
    case 'updated-message':
    case 'message-send-error':
      return isObject(data) ? updatedMessage(data, type === 'message-send-error') : ignored('the message is not an object');
    case 'typing-indicator': {
      if (!isObject(data)) return ignored('the typing indicator is not an object');
      const chat = str(data.guid) ?? str(data.chatGuid);
      const raw = chat ? addressOfChatGuid(chat) : null;
      const counterpart = raw ? canonicalAddress('imessage', raw) : null;
      if (!counterpart) return ignored('typing in a group chat, or in no chat');
      return { kind: 'typing', counterpart, state: data.display === true ? 'started' : 'stopped' };
    }
    case 'chat-read-status-changed':
      return ignored('the Mac\'s own read state of a chat; the person\'s read receipts come as updated-message dateRead');
    default:
      return ignored(`the ${type} event is not handled`);
  }
}
