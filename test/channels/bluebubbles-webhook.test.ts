/**
 * The BlueBubbles webhook translation (src/channels/bluebubbles/webhook.ts), without a
 * server: tapback codes and names, target guids with part prefixes, our own echoes, and
 * that no payload, however malformed, makes it throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressOfChatGuid, chatGuidFor, TAPBACKS } from '../../src/channels/bluebubbles/client.js';
import { associatedTarget, tapbackOf, translateWebhook } from '../../src/channels/bluebubbles/webhook.js';

describe('tapbacks', () => {
  it('reads the codes 2000–2005 / 3000–3005 (numbers or strings) and the names the same way', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 5 }), fc.boolean(), (i, removed) => {
      const code = (removed ? 3000 : 2000) + i;
      const expected = { reaction: TAPBACKS[i], removed };
      expect(tapbackOf(code)).toEqual(expected);
      expect(tapbackOf(String(code))).toEqual(expected);
      expect(tapbackOf(`${removed ? '-' : ''}${TAPBACKS[i]}`)).toEqual(expected);
    }));
  });

  it('is null for anything that is not a tapback', () => {
    for (const v of [0, '0', null, undefined, 1000, 'sticker', 2006, 3006, 1999, 'Love', '--love', {}, []]) expect(tapbackOf(v)).toBeNull();
  });

  it('strips the part prefix of an associated message guid', () => {
    expect(associatedTarget('p:0/ABC-123')).toBe('ABC-123');
    expect(associatedTarget('p:12/ABC-123')).toBe('ABC-123');
    expect(associatedTarget('bp:ABC-123')).toBe('ABC-123');
    expect(associatedTarget('ABC-123')).toBe('ABC-123');
  });
});

describe('chat guids', () => {
  it('round-trips one-to-one chats and refuses group chats', () => {
    fc.assert(fc.property(fc.oneof(fc.emailAddress(), fc.stringMatching(/^\+1[2-9]\d{9}$/)), (address) => {
      expect(addressOfChatGuid(chatGuidFor(address))).toBe(address);
    }));
    expect(addressOfChatGuid('iMessage;+;chat493021')).toBeNull();
    expect(addressOfChatGuid('SMS;-;+14155550123')).toBe('+14155550123');
  });
});

describe('translateWebhook', () => {
  const chats = [{ guid: 'iMessage;-;+14155550123' }];

  it('turns a message from the person into an inbound message with a canonical address', () => {
    const event = translateWebhook('new-message', {
      guid: 'G1', text: 'Hi \uFFFC', isFromMe: false, handle: { address: '+1 415 555 0123' }, chats, dateCreated: 1_720_000_000_000, attachments: [{}],
    });
    expect(event).toEqual({ kind: 'message', message: { from: '+14155550123', text: 'Hi', providerMessageId: 'G1', sentAt: '2024-07-03T09:46:40.000Z' } });
    expect(translateWebhook('new-message', { guid: 'G2', text: 'x', isFromMe: false, handle: { address: 'Ann@Example.COM' } })).toMatchObject({ message: { from: 'ann@example.com' } });
  });

  it('tells our own messages (echo), the person\'s tapbacks and status updates apart', () => {
    expect(translateWebhook('new-message', { guid: 'G3', tempGuid: 'msg_1', isFromMe: true, text: 'ours', chats })).toEqual({ kind: 'echo', guid: 'G3', tempGuid: 'msg_1' });
    expect(translateWebhook('new-message', { guid: 'G4', isFromMe: true, associatedMessageGuid: 'p:0/G1', associatedMessageType: 'love', chats }).kind).toBe('ignored');
    expect(translateWebhook('new-message', { guid: 'G5', isFromMe: false, associatedMessageGuid: 'p:0/G1', associatedMessageType: '-laugh', handle: { address: '+14155550123' }, chats }))
      .toEqual({ kind: 'reaction', guid: 'G5', target: 'G1', reaction: 'laugh', removed: true, from: '+14155550123' });
    expect(translateWebhook('new-message', { guid: 'G6', isFromMe: false, associatedMessageGuid: 'p:0/G1', associatedMessageType: 1000, handle: { address: '+14155550123' }, chats }).kind).toBe('ignored');
    expect(translateWebhook('updated-message', { guid: 'G3', isFromMe: true, dateDelivered: 1, dateRead: 2 })).toMatchObject({ kind: 'status', status: 'read' });
    expect(translateWebhook('updated-message', { guid: 'G3', isFromMe: true, dateDelivered: 1, dateRead: null })).toMatchObject({ kind: 'status', status: 'delivered' });
    expect(translateWebhook('updated-message', { guid: 'G3', isFromMe: true, error: 22 })).toMatchObject({ kind: 'status', status: 'failed', error: 'iMessage error 22' });
    expect(translateWebhook('typing-indicator', { display: false, guid: 'iMessage;-;+14155550123' })).toEqual({ kind: 'typing', counterpart: '+14155550123', state: 'stopped' });
    expect(translateWebhook('chat-read-status-changed', { chatGuid: 'iMessage;-;+14155550123', read: true }).kind).toBe('ignored');
  });

  it('never throws, whatever the payload', () => {
    const types = fc.constantFrom('new-message', 'updated-message', 'message-send-error', 'typing-indicator', 'chat-read-status-changed', 'hello-world');
    fc.assert(fc.property(types, fc.anything(), (type, data) => {
      expect(['message', 'reaction', 'echo', 'status', 'typing', 'ignored']).toContain(translateWebhook(type, data).kind);
    }), { numRuns: 500 });
    const message = fc.record({
      guid: fc.oneof(fc.string(), fc.constant(undefined)), text: fc.oneof(fc.string(), fc.constant(null)), isFromMe: fc.anything(),
      handle: fc.oneof(fc.record({ address: fc.anything() }), fc.anything()), chats: fc.anything(), associatedMessageGuid: fc.anything(),
      associatedMessageType: fc.anything(), dateCreated: fc.anything(), dateRead: fc.anything(), error: fc.anything(), itemType: fc.anything(),
    }, { requiredKeys: [] });
    fc.assert(fc.property(types, message, (type, data) => {
      expect(typeof translateWebhook(type, data).kind).toBe('string');
    }), { numRuns: 500 });
  });
});
