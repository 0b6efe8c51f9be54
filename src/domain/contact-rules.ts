/**
 * Contact rules (SPEC section 2): block or allow an external address by its exact
 * address, its domain, or a phone-number prefix, for the whole organization or for one
 * identity. Plain functions over plain data: the store fetches the rules that could
 * match ({@link candidatePatterns}) and {@link decide} says whether the address is
 * blocked.
 *
 * Precedence, first difference wins:
 *
 * 1. **Scope**: a rule of the identity beats any org-wide rule, so an identity can allow
 *    what the organization blocks (and block what it allows).
 * 2. **Specificity**, within a scope: an exact `address` beats any `domain` or
 *    `number_prefix`; a longer domain (`mail.example.com`) beats a shorter one
 *    (`example.com`); a longer number prefix beats a shorter one. "Block example.com but
 *    allow ann@example.com" and "allow example.com but block spam@example.com" both work.
 * 3. **Action**, at the same scope and specificity: `allow` beats `block`.
 *
 * An address no rule matches is not blocked.
 */

export const RULE_ACTIONS = ['block', 'allow'] as const;
export type RuleAction = (typeof RULE_ACTIONS)[number];

export const RULE_KINDS = ['address', 'domain', 'number_prefix'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

/** A rule as the evaluation needs it. */
export interface ContactRule {
  readonly id: string;
  /** null: applies to every identity of the organization. */
  readonly identity_id: string | null;
  readonly action: RuleAction;
  readonly kind: RuleKind;
  /** Normalized ({@link normalizePattern}). */
  readonly pattern: string;
}

/** The rule that decided, and what it decided. */
export interface Decision {
  readonly blocked: boolean;
  /** The deciding rule; null when none matched. */
  readonly rule: ContactRule | null;
}

const LABEL = '[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]{0,61}[\\p{L}\\p{N}])?';
const DOMAIN = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`, 'u');
const EMAIL = new RegExp(`^[^\\s@]{1,64}@${LABEL}(?:\\.${LABEL})*$`, 'u');
/** E.164: `+`, a non-zero country digit, at most 15 digits in all (ITU-T E.164 section 6). */
const E164 = /^\+[1-9]\d{0,14}$/;

/** Whether `address` is a phone number in E.164 form (`+15551234567`). */
export function isE164(address: string): boolean {
  return E164.test(address);
}

/**
 * A rule pattern in its stored form, or null when it is not valid for `kind`:
 * `address`: an email address (lower-cased) or an E.164 number; `domain`: a host name
 * such as `example.com` (lower-cased, without `@`, wildcard or trailing dot);
 * `number_prefix`: `+` and 1 to 15 digits.
 */
export function normalizePattern(kind: RuleKind, raw: string): string | null {
  const value = raw.trim().toLowerCase();
  switch (kind) {
    case 'address': return EMAIL.test(value) || E164.test(value) ? value : null;
    case 'domain': return DOMAIN.test(value) ? value : null;
    case 'number_prefix': return E164.test(value) ? value : null;
  }
}

/** The domain of an email address and each parent domain, most specific first; none for a number. */
function domainsOf(address: string): string[] {
  const at = address.lastIndexOf('@');
  if (at === -1) return [];
  const labels = address.slice(at + 1).split('.');
  return labels.map((_, i) => labels.slice(i).join('.')).filter((d) => d !== '');
}

/**
 * Every (kind, pattern) a rule matching `address` can have: the address itself, its
 * domain and parent domains, or the prefixes of a number. The store fetches rules with
 * these patterns only.
 *
 * @param address lower-cased email address or E.164 number.
 */
export function candidatePatterns(address: string): { kind: RuleKind; pattern: string }[] {
  const out: { kind: RuleKind; pattern: string }[] = [{ kind: 'address', pattern: address }];
  for (const d of domainsOf(address)) out.push({ kind: 'domain', pattern: d });
  if (E164.test(address)) {
    for (let n = 2; n <= address.length; n++) out.push({ kind: 'number_prefix', pattern: address.slice(0, n) });
  }
  return out;
}

/** Whether `rule` matches `address` (lower-cased), whatever its scope. */
export function ruleMatches(rule: Pick<ContactRule, 'kind' | 'pattern'>, address: string): boolean {
  switch (rule.kind) {
    case 'address': return address === rule.pattern;
    case 'domain': return domainsOf(address).includes(rule.pattern);
    case 'number_prefix': return E164.test(address) && address.startsWith(rule.pattern);
  }
}

/** Higher is more specific: an exact address over any pattern, longer patterns over shorter. */
function specificity(rule: ContactRule): number {
  if (rule.kind === 'address') return Number.MAX_SAFE_INTEGER;
  return rule.kind === 'domain' ? rule.pattern.split('.').length : rule.pattern.length;
}

/** Orders matching rules by precedence, the deciding one first (see the module comment). */
export function byPrecedence(a: ContactRule, b: ContactRule): number {
  const scope = (r: ContactRule) => (r.identity_id === null ? 1 : 0);
  return scope(a) - scope(b)
    || specificity(b) - specificity(a)
    || (a.action === b.action ? 0 : a.action === 'allow' ? -1 : 1)
    || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Whether `address` is blocked for `identityId`, and by which rule.
 *
 * @param rules any rules of the organization; those of other identities and those not
 *   matching the address are ignored.
 * @param address lower-cased email address or E.164 number.
 */
export function decide(rules: readonly ContactRule[], identityId: string, address: string): Decision {
  const applicable = rules
    .filter((r) => (r.identity_id === null || r.identity_id === identityId) && ruleMatches(r, address))
    .sort(byPrecedence);
  const rule = applicable[0] ?? null;
  return { blocked: rule?.action === 'block', rule };
}
