/**
 * Contact rules: create and delete them, and ask whether an address is blocked for an
 * identity (inbound mail is marked, outbound sends are refused). The precedence between
 * rules is in src/domain/contact-rules.ts.
 */
import { decide, normalizePattern, type ContactRule, type RuleAction, type RuleKind } from '../domain/contact-rules.js';
import { AppError, notFound } from '../errors.js';
import { newId } from '../ids.js';
import {
  deleteContactRule, findContactRule, findSameRule, insertContactRule, rulesFor, type ContactRuleRow,
} from '../store/contact-rules.js';
import { findIdentity } from '../store/identities.js';
import type { Db } from '../store/store.js';

export interface NewContactRule {
  readonly action: RuleAction;
  readonly kind: RuleKind;
  readonly pattern: string;
  /** null or omitted: every identity of the organization. */
  readonly identity_id?: string | null;
}

const PATTERN_HINT: Record<RuleKind, string> = {
  address: 'an email address (ann@example.com) or an E.164 number (+15551234567)',
  domain: 'a domain such as example.com (it also matches its subdomains; no `@`, wildcard or trailing dot)',
  number_prefix: 'an E.164 prefix: `+` and 1 to 15 digits, such as +1555',
};

/**
 * Creates a rule, or returns the identical one that exists (same scope, action, kind
 * and pattern).
 *
 * @returns the rule and whether it is new.
 * @throws AppError `validation_failed` (a pattern not valid for its kind), `not_found`
 *   (param `identity_id`: no such identity in the org).
 */
export async function createContactRule(db: Db, orgId: string, input: NewContactRule): Promise<{ row: ContactRuleRow; created: boolean }> {
  const pattern = normalizePattern(input.kind, input.pattern);
  if (pattern === null) {
    throw new AppError('validation_failed', `pattern is not valid for kind \`${input.kind}\`: expected ${PATTERN_HINT[input.kind]}.`, {
      param: 'pattern', fix: `Send ${PATTERN_HINT[input.kind]}.`,
    });
  }
  const identityId = input.identity_id ?? null;
  if (identityId !== null && !(await findIdentity(db, orgId, identityId))) {
    throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
  }
  const fields = { identity_id: identityId, action: input.action, kind: input.kind, pattern };
  const same = await findSameRule(db, orgId, fields);
  if (same) return { row: same, created: false };
  const row: ContactRuleRow = { id: newId('rule'), org_id: orgId, ...fields, created_at: new Date().toISOString() };
  await insertContactRule(db, row);
  return { row, created: true };
}

/**
 * A rule of the org.
 *
 * @throws AppError `not_found`.
 */
export async function getContactRule(db: Db, orgId: string, id: string): Promise<ContactRuleRow> {
  const row = await findContactRule(db, orgId, id);
  if (!row) throw notFound('contact rule');
  return row;
}

/**
 * Deletes a rule. Conversations it marked blocked stay so until their counterpart's next
 * message arrives.
 *
 * @throws AppError `not_found`.
 */
export async function removeContactRule(db: Db, orgId: string, id: string): Promise<void> {
  await getContactRule(db, orgId, id);
  await deleteContactRule(db, orgId, id);
}

/**
 * The addresses among `addresses` that the org's rules block for `identityId`, each
 * with the deciding rule.
 *
 * @param addresses lower-cased email addresses or E.164 numbers.
 */
export async function blockedAmong(db: Db, orgId: string, identityId: string, addresses: readonly string[]): Promise<Map<string, ContactRule>> {
  const out = new Map<string, ContactRule>();
  if (addresses.length === 0) return out;
  const rules = await rulesFor(db, orgId, identityId, addresses);
  if (rules.length === 0) return out;
  for (const address of addresses) {
    const d = decide(rules, identityId, address);
    if (d.blocked && d.rule) out.set(address, d.rule);
  }
  return out;
}

/** Whether the org's rules block `address` for `identityId`. */
export async function isBlocked(db: Db, orgId: string, identityId: string, address: string): Promise<boolean> {
  return (await blockedAmong(db, orgId, identityId, [address])).size > 0;
}

/**
 * Refuses a send when a rule blocks any recipient.
 *
 * @param recipients lower-cased addresses, each with the request parameter it came from (if any).
 * @throws AppError `recipient_blocked` naming the first blocked address and its rule.
 */
export async function assertRecipientsAllowed(
  db: Db, orgId: string, identityId: string, recipients: readonly { address: string; param?: string | undefined }[],
): Promise<void> {
  const blocked = await blockedAmong(db, orgId, identityId, recipients.map((r) => r.address));
  const first = recipients.find((r) => blocked.has(r.address));
  if (!first) return;
  const rule = blocked.get(first.address)!;
  throw new AppError('recipient_blocked', `A contact rule (${rule.id}: block ${rule.kind} ${rule.pattern}) blocks ${first.address}.`, {
    param: first.param,
    fix: `Remove ${first.address} from the recipients, or delete the rule (DELETE /v1/contact_rules/${rule.id}) or add an allow rule if the block is a mistake.`,
  });
}
