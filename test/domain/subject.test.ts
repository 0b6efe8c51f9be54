/**
 * Reply subjects (SPEC section 4, rule 4): chains of `Re:`/`RE:`/`Fwd:` are trimmed to one
 * `Re:`. The localized reply prefixes of common clients (German `AW:`, Scandinavian `SV:`,
 * Dutch `Antw:`, counted `Re[2]:`) and mailing-list tags (`[list]`) are handled the same way.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isReplySubject, normalizeSubject, replySubject } from '../../src/domain/subject.js';

describe('normalizeSubject', () => {
  it('removes one reply or forward prefix', () => {
    expect(normalizeSubject('Re: Lunch on Friday')).toBe('Lunch on Friday');
    expect(normalizeSubject('RE: Lunch on Friday')).toBe('Lunch on Friday');
    expect(normalizeSubject('re: Lunch on Friday')).toBe('Lunch on Friday');
    expect(normalizeSubject('Fwd: Lunch on Friday')).toBe('Lunch on Friday');
    expect(normalizeSubject('FW: Lunch on Friday')).toBe('Lunch on Friday');
  });

  it('removes a whole chain of mixed prefixes', () => {
    expect(normalizeSubject('Re: RE: Fwd: re: Lunch')).toBe('Lunch');
    expect(normalizeSubject('Fwd: Re: Fw: Lunch')).toBe('Lunch');
    expect(normalizeSubject('Re:Re:Lunch')).toBe('Lunch');
    expect(normalizeSubject('  Re :  Lunch  ')).toBe('Lunch');
  });

  it('removes localized and counted reply prefixes', () => {
    expect(normalizeSubject('AW: Angebot')).toBe('Angebot');
    expect(normalizeSubject('Aw: AW: Angebot')).toBe('Angebot');
    expect(normalizeSubject('SV: Möte')).toBe('Möte');
    expect(normalizeSubject('Antw: Offerte')).toBe('Offerte');
    expect(normalizeSubject('Re[2]: Lunch')).toBe('Lunch');
    expect(normalizeSubject('Re[12]: AW: Lunch')).toBe('Lunch');
    expect(normalizeSubject('Re(3): Lunch')).toBe('Lunch');
    expect(normalizeSubject('Re：会議')).toBe('会議'); // full-width colon
  });

  it('keeps words that merely start like a prefix', () => {
    for (const s of ['Rebase plan', 'Research: results', 'Refund request', 'Aware: x', 'Sverige: trip', 'Fwdx: y', 'Reply all']) {
      expect(normalizeSubject(s)).toBe(s);
    }
  });

  it('keeps prefixes that are not at the start', () => {
    expect(normalizeSubject('Question about Re: prefixes')).toBe('Question about Re: prefixes');
  });

  it('keeps a mailing-list tag once, in front, and removes the reply prefixes around it', () => {
    expect(normalizeSubject('[dev] Topic')).toBe('[dev] Topic');
    expect(normalizeSubject('Re: [dev] Topic')).toBe('[dev] Topic');
    expect(normalizeSubject('[dev] Re: Topic')).toBe('[dev] Topic');
    expect(normalizeSubject('Re: [dev] Re: Topic')).toBe('[dev] Topic');
    expect(normalizeSubject('[dev] Re: [dev] RE: Topic')).toBe('[dev] Topic');
    expect(normalizeSubject('AW: [dev] Fwd: Topic')).toBe('[dev] Topic');
  });

  it('is empty for no subject or prefixes only', () => {
    expect(normalizeSubject(null)).toBe('');
    expect(normalizeSubject(undefined)).toBe('');
    expect(normalizeSubject('')).toBe('');
    expect(normalizeSubject('Re:')).toBe('');
    expect(normalizeSubject('Re: Fwd:  ')).toBe('');
  });

  it('stays fast on a hostile subject of many tags and prefixes', () => {
    const hostile = '[a] Re: '.repeat(20_000) + 'Topic';
    const tagsOnly = '[a]  '.repeat(40_000) + 'Topic';
    const t = Date.now();
    normalizeSubject(hostile);
    isReplySubject(hostile);
    expect(isReplySubject(tagsOnly)).toBe(false);
    normalizeSubject(tagsOnly);
    expect(Date.now() - t).toBeLessThan(1_000);
  });
});

describe('replySubject', () => {
  it('prefixes one Re:', () => {
    expect(replySubject('Lunch on Friday')).toBe('Re: Lunch on Friday');
  });

  it('trims any chain of prefixes to one Re:', () => {
    expect(replySubject('Re: Lunch')).toBe('Re: Lunch');
    expect(replySubject('RE: Re: Fwd: Lunch')).toBe('Re: Lunch');
    expect(replySubject('AW: Re[3]: Lunch')).toBe('Re: Lunch');
  });

  it('puts the Re: before a mailing-list tag, with no second Re: after it', () => {
    expect(replySubject('[dev] Topic')).toBe('Re: [dev] Topic');
    expect(replySubject('[dev] Re: Topic')).toBe('Re: [dev] Topic');
  });

  it('is a bare Re: when there was no subject', () => {
    expect(replySubject(null)).toBe('Re:');
    expect(replySubject('')).toBe('Re:');
  });
});

describe('isReplySubject', () => {
  it('recognises reply prefixes', () => {
    for (const s of ['Re: x', 'RE: x', 're:x', 'AW: x', 'SV: x', 'Antw: x', 'Re[2]: x', 'Re：x', '[dev] Re: x']) {
      expect(isReplySubject(s)).toBe(true);
    }
  });

  it('does not take a forward, a plain subject or a look-alike word for a reply', () => {
    for (const s of [null, undefined, '', 'Fwd: x', 'Fw: x', 'Hello', 'Rebase plan', 'Research: results', '[dev] Topic']) {
      expect(isReplySubject(s)).toBe(false);
    }
  });
});

describe('properties', () => {
  // A base subject: words without colons or brackets, so it holds no prefix or tag of its own.
  const word = fc.stringMatching(/^[A-Za-z0-9äöüéß]{1,10}$/);
  const base = fc.array(word, { minLength: 1, maxLength: 6 }).map((w) => w.join(' '))
    .filter((b) => !/^(re|fwd?|aw|sv|antw)$/i.test(b.split(' ')[0]!));
  const prefix = fc.tuple(
    fc.constantFrom('Re', 'RE', 're', 'Fwd', 'FWD', 'Fw', 'AW', 'Aw', 'SV', 'Antw', 'Re[2]', 'Re (4)'),
    fc.constantFrom(':', ' :', '：'),
    fc.constantFrom('', ' ', '  '),
  ).map(([p, c, s]) => `${p}${c}${s}`);

  it('property: any chain of prefixes before a subject normalizes to the subject itself', () => {
    fc.assert(fc.property(fc.array(prefix, { maxLength: 6 }), base, (prefixes, b) => {
      expect(normalizeSubject(prefixes.join('') + b)).toBe(b);
      expect(replySubject(prefixes.join('') + b)).toBe(`Re: ${b}`);
    }));
  });

  it('property: prefixes around one list tag normalize to the tag and the subject', () => {
    fc.assert(fc.property(fc.array(prefix, { maxLength: 3 }), fc.array(prefix, { maxLength: 3 }), word, base, (before, after, tag, b) => {
      const s = `${before.join('')}[${tag}] ${after.join('')}${b}`;
      expect(normalizeSubject(s)).toBe(`[${tag}] ${b}`);
    }));
  });

  it('property: normalizing is idempotent and replying twice changes nothing', () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => {
      const n = normalizeSubject(s);
      expect(normalizeSubject(n)).toBe(n);
      expect(replySubject(replySubject(s))).toBe(replySubject(s));
      expect(isReplySubject(replySubject(s))).toBe(true);
    }));
  });
});
