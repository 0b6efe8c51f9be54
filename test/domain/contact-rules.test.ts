/**
 * Contact rules: pattern normalization, matching, and the precedence that decides
 * between rules (scope, then specificity, then allow over block).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  candidatePatterns, decide, normalizePattern, ruleMatches, type ContactRule, type RuleAction, type RuleKind,
} from '../../src/domain/contact-rules.js';

const IDN = 'idn_a';
const OTHER = 'idn_b';
let n = 0;
const rule = (action: RuleAction, kind: RuleKind, pattern: string, identity_id: string | null = null): ContactRule =>
  ({ id: `rule_${String(n++).padStart(4, '0')}`, identity_id, action, kind, pattern });

describe('normalizePattern', () => {
  it('lower-cases and trims addresses and domains, and refuses what does not fit the kind', () => {
    expect(normalizePattern('address', '  Ann@Example.COM ')).toBe('ann@example.com');
    expect(normalizePattern('address', '+15551234567')).toBe('+15551234567');
    expect(normalizePattern('address', 'example.com')).toBeNull();
    expect(normalizePattern('address', 'a b@example.com')).toBeNull();
    expect(normalizePattern('domain', 'Mail.Example.com')).toBe('mail.example.com');
    expect(normalizePattern('domain', 'bücher.de')).toBe('bücher.de');
    for (const bad of ['@example.com', '*.example.com', 'example.com.', 'ann@example.com', '-x.com', 'a..b', '']) {
      expect(normalizePattern('domain', bad), bad).toBeNull();
    }
    expect(normalizePattern('number_prefix', '+1555')).toBe('+1555');
    for (const bad of ['1555', '+0555', '+', '+1 555', `+${'1'.repeat(16)}`]) {
      expect(normalizePattern('number_prefix', bad), bad).toBeNull();
    }
  });
});

describe('ruleMatches', () => {
  it('matches a domain and its subdomains, never a look-alike', () => {
    const r = rule('block', 'domain', 'example.com');
    expect(ruleMatches(r, 'ann@example.com')).toBe(true);
    expect(ruleMatches(r, 'ann@mail.example.com')).toBe(true);
    expect(ruleMatches(r, 'ann@notexample.com')).toBe(false);
    expect(ruleMatches(r, 'example.com@evil.test')).toBe(false);
    expect(ruleMatches(r, '+15551234567')).toBe(false);
  });

  it('matches an exact address only, and a number prefix only on E.164 numbers', () => {
    expect(ruleMatches(rule('block', 'address', 'ann@example.com'), 'ann@example.com')).toBe(true);
    expect(ruleMatches(rule('block', 'address', 'ann@example.com'), 'bob@example.com')).toBe(false);
    const p = rule('block', 'number_prefix', '+1555');
    expect(ruleMatches(p, '+15551234567')).toBe(true);
    expect(ruleMatches(p, '+15561234567')).toBe(false);
    expect(ruleMatches(p, '+1555x@example.com')).toBe(false);
  });

  it('matches exactly the rules whose pattern is among the candidate patterns', () => {
    const address = fc.oneof(
      fc.tuple(fc.constantFrom('ann', 'bob'), fc.constantFrom('example.com', 'mail.example.com', 'a.b.c.test', 'test')).map(([l, d]) => `${l}@${d}`),
      fc.stringMatching(/^\+[1-9]\d{1,14}$/),
    );
    const anyRule = fc.record({
      kind: fc.constantFrom<RuleKind>('address', 'domain', 'number_prefix'),
      pattern: fc.oneof(address, fc.constantFrom('example.com', 'mail.example.com', 'c.test', 'test', '+1', '+1555', '+44')),
    });
    fc.assert(fc.property(anyRule, address, (r, a) => {
      const candidates = candidatePatterns(a).filter((c) => c.kind === r.kind).map((c) => c.pattern);
      expect(ruleMatches(r, a)).toBe(candidates.includes(r.pattern));
    }));
  });
});

describe('decide: precedence', () => {
  const ann = 'ann@mail.example.com';

  it('blocks nothing without a matching rule', () => {
    expect(decide([], IDN, ann)).toEqual({ blocked: false, rule: null });
    expect(decide([rule('block', 'domain', 'other.test')], IDN, ann).blocked).toBe(false);
  });

  it('lets an identity rule beat any org-wide rule, in both directions', () => {
    expect(decide([rule('block', 'address', ann), rule('allow', 'domain', 'example.com', IDN)], IDN, ann).blocked).toBe(false);
    expect(decide([rule('allow', 'address', ann), rule('block', 'domain', 'example.com', IDN)], IDN, ann).blocked).toBe(true);
  });

  it('ignores the rules of other identities', () => {
    expect(decide([rule('block', 'address', ann, OTHER)], IDN, ann).blocked).toBe(false);
    expect(decide([rule('block', 'address', ann), rule('allow', 'address', ann, OTHER)], IDN, ann).blocked).toBe(true);
  });

  it('lets an exact address beat a domain, and a longer domain beat a shorter one, within a scope', () => {
    expect(decide([rule('block', 'domain', 'example.com'), rule('allow', 'address', ann)], IDN, ann).blocked).toBe(false);
    expect(decide([rule('allow', 'domain', 'example.com'), rule('block', 'address', ann)], IDN, ann).blocked).toBe(true);
    expect(decide([rule('block', 'domain', 'example.com'), rule('allow', 'domain', 'mail.example.com')], IDN, ann).blocked).toBe(false);
    expect(decide([rule('allow', 'domain', 'example.com'), rule('block', 'domain', 'mail.example.com')], IDN, ann).blocked).toBe(true);
    expect(decide([rule('block', 'number_prefix', '+1'), rule('allow', 'number_prefix', '+1555')], IDN, '+15551234567').blocked).toBe(false);
  });

  it('lets allow beat block at the same scope and specificity', () => {
    const block = rule('block', 'domain', 'example.com', IDN);
    const allow = rule('allow', 'domain', 'example.com', IDN);
    expect(decide([block, allow], IDN, ann)).toEqual({ blocked: false, rule: allow });
  });
});

describe('decide: properties', () => {
  const addresses = ['ann@mail.example.com', 'bob@example.com', 'eve@other.test', '+15551234567', '+447700900123'];
  const arbRule = fc.record({
    id: fc.uuid().map((u) => `rule_${u}`),
    identity_id: fc.constantFrom<string | null>(null, IDN, OTHER),
    action: fc.constantFrom<RuleAction>('block', 'allow'),
    kind: fc.constantFrom<RuleKind>('address', 'domain', 'number_prefix'),
    pattern: fc.constantFrom(...addresses, 'example.com', 'mail.example.com', 'other.test', '+1', '+1555', '+44'),
  });
  const arbRules = fc.array(arbRule, { maxLength: 12 });
  const arbAddress = fc.constantFrom(...addresses);

  it('does not depend on the order of the rules', () => {
    const permuted = arbRules.chain((rules) => fc.tuple(fc.constant(rules), fc.shuffledSubarray(rules, { minLength: rules.length })));
    fc.assert(fc.property(permuted, arbAddress, ([rules, shuffled], a) => {
      expect(decide(shuffled, IDN, a)).toEqual(decide(rules, IDN, a));
    }));
  });

  it('decides by a rule that applies and matches, and blocks only when that rule is a block', () => {
    fc.assert(fc.property(arbRules, arbAddress, (rules, a) => {
      const d = decide(rules, IDN, a);
      const applicable = rules.filter((r) => (r.identity_id === null || r.identity_id === IDN) && ruleMatches(r, a));
      if (applicable.length === 0) expect(d).toEqual({ blocked: false, rule: null });
      else {
        expect(applicable).toContain(d.rule);
        expect(d.blocked).toBe(d.rule!.action === 'block');
      }
      if (applicable.every((r) => r.action === 'block')) expect(d.blocked).toBe(applicable.length > 0);
      if (applicable.every((r) => r.action === 'allow')) expect(d.blocked).toBe(false);
    }));
  });

  it('never blocks an address the identity allows exactly, and always blocks one it blocks exactly (without an exact allow)', () => {
    fc.assert(fc.property(arbRules, arbAddress, (rules, a) => {
      expect(decide([...rules, rule('allow', 'address', a, IDN)], IDN, a).blocked).toBe(false);
      const withoutExactAllow = rules.filter((r) => !(r.identity_id === IDN && r.kind === 'address' && r.action === 'allow'));
      expect(decide([...withoutExactAllow, rule('block', 'address', a, IDN)], IDN, a).blocked).toBe(true);
    }));
  });

  it('lifts a block by adding an allow with the same scope, kind and pattern as the deciding rule', () => {
    fc.assert(fc.property(arbRules, arbAddress, (rules, a) => {
      const d = decide(rules, IDN, a);
      fc.pre(d.blocked);
      const allow = { ...d.rule!, id: 'rule_zzz', action: 'allow' as const };
      expect(decide([...rules, allow], IDN, a).blocked).toBe(false);
    }));
  });

  it('lets the identity\'s own rules decide whenever one of them matches', () => {
    fc.assert(fc.property(arbRules, arbAddress, (rules, a) => {
      const own = rules.filter((r) => r.identity_id === IDN);
      fc.pre(own.some((r) => ruleMatches(r, a)));
      expect(decide(rules, IDN, a).blocked).toBe(decide(own, IDN, a).blocked);
    }));
  });

  it('ignores rules of other identities entirely', () => {
    fc.assert(fc.property(arbRules, arbAddress, (rules, a) => {
      const mine = rules.filter((r) => r.identity_id !== OTHER);
      expect(decide(rules, IDN, a).blocked).toBe(decide(mine, IDN, a).blocked);
    }));
  });
});
