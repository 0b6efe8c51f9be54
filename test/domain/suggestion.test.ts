/**
 * The suggestion lifecycle: pending → sent | dismissed, with `sending` while a send of
 * it is in flight; everything else is a 409 `suggestion_not_pending`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  currentStatus, isEdited, nextStatus, SEND_CLAIM_TTL_MS, SUGGESTION_STATUSES, SUGGESTION_TRANSITIONS, transition,
  type SuggestionAction, type SuggestionStatus,
} from '../../src/domain/suggestion.js';
import { AppError } from '../../src/errors.js';

const ACTIONS: SuggestionAction[] = ['send', 'accept', 'fail', 'answer', 'dismiss'];

function refusal(from: SuggestionStatus, action: SuggestionAction): AppError {
  try {
    transition(from, action);
  } catch (err) {
    return err as AppError;
  }
  throw new Error(`${action} from ${from} was allowed`);
}

describe('suggestion transitions', () => {
  it('allows exactly the lifecycle of the spec', () => {
    const allowed = SUGGESTION_STATUSES.flatMap((from) => ACTIONS.filter((a) => nextStatus(from, a) !== null).map((a) => `${from} -${a}-> ${nextStatus(from, a)}`));
    expect(allowed.sort()).toEqual([
      'pending -answer-> sent',
      'pending -dismiss-> dismissed',
      'pending -send-> sending',
      'sending -accept-> sent',
      'sending -fail-> pending',
    ]);
  });

  it('keeps sent and dismissed final', () => {
    for (const from of ['sent', 'dismissed'] as const) {
      for (const action of ACTIONS) expect(nextStatus(from, action)).toBeNull();
    }
  });

  it('refuses a second send, a send after dismissal and a dismissal mid-send with 409 suggestion_not_pending', () => {
    for (const [from, action, words] of [
      ['sent', 'send', 'already sent'], ['dismissed', 'send', 'already dismissed'], ['sending', 'dismiss', 'being sent'],
      ['sending', 'send', 'being sent'], ['sent', 'dismiss', 'already sent'],
    ] as const) {
      const err = refusal(from, action);
      expect(err).toBeInstanceOf(AppError);
      expect(err.code).toBe('suggestion_not_pending');
      expect(err.status).toBe(409);
      expect(err.message).toContain(words);
    }
  });

  it('matches the table for any sequence of actions (property)', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...ACTIONS), { maxLength: 12 }), (actions) => {
      let status: SuggestionStatus = 'pending';
      for (const action of actions) {
        const expected = SUGGESTION_TRANSITIONS[status][action];
        if (expected === undefined) {
          expect(() => transition(status, action)).toThrow(AppError);
        } else {
          status = transition(status, action);
          expect(status).toBe(expected);
        }
      }
      // Once final, always final.
      if (status === 'sent' || status === 'dismissed') for (const a of ACTIONS) expect(nextStatus(status, a)).toBeNull();
    }));
  });
});

describe('currentStatus', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const t0 = Date.parse(at);

  it('counts a send claim older than the TTL as pending again', () => {
    expect(currentStatus('sending', at, t0 + SEND_CLAIM_TTL_MS)).toBe('sending');
    expect(currentStatus('sending', at, t0 + SEND_CLAIM_TTL_MS + 1)).toBe('pending');
  });

  it('leaves every other status alone, however old', () => {
    fc.assert(fc.property(fc.constantFrom<SuggestionStatus>('pending', 'sent', 'dismissed'), fc.nat(), (s, age) => {
      expect(currentStatus(s, at, t0 + age)).toBe(s);
    }));
  });
});

describe('isEdited', () => {
  it('is false only for the very same text', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => {
      expect(isEdited(a, a)).toBe(false);
      expect(isEdited(a, b)).toBe(a !== b);
    }));
  });
});
