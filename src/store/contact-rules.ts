/**
 * Contact rule rows: insert, scoped reads and the lookup of the rules that may match
 * some addresses.
 */
import type { Selectable } from 'kysely';
import { candidatePatterns, type ContactRule, type RuleAction, type RuleKind } from '../domain/contact-rules.js';
import type { ContactRulesTable } from './schema.js';
import type { Db } from './store.js';

export type ContactRuleRow = Selectable<ContactRulesTable>;

/** A row as the domain's rule type. */
export function ruleOf(row: ContactRuleRow): ContactRule {
  return { id: row.id, identity_id: row.identity_id, action: row.action as RuleAction, kind: row.kind as RuleKind, pattern: row.pattern };
}

export async function insertContactRule(db: Db, row: ContactRuleRow): Promise<void> {
  await db.insertInto('contact_rules').values(row).execute();
}

/** A rule of the org, or undefined (missing and foreign look the same). */
export async function findContactRule(db: Db, orgId: string, id: string): Promise<ContactRuleRow | undefined> {
  return db.selectFrom('contact_rules').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

/** An existing rule with the same scope, action, kind and pattern. */
export async function findSameRule(
  db: Db, orgId: string, r: Pick<ContactRuleRow, 'identity_id' | 'action' | 'kind' | 'pattern'>,
): Promise<ContactRuleRow | undefined> {
  let q = db.selectFrom('contact_rules').selectAll().where('org_id', '=', orgId)
    .where('action', '=', r.action).where('kind', '=', r.kind).where('pattern', '=', r.pattern);
  q = r.identity_id === null ? q.where('identity_id', 'is', null) : q.where('identity_id', '=', r.identity_id);
  return q.executeTakeFirst();
}

export async function deleteContactRule(db: Db, orgId: string, id: string): Promise<void> {
  await db.deleteFrom('contact_rules').where('org_id', '=', orgId).where('id', '=', id).execute();
}

export interface ContactRuleQuery {
  /** Only rules applying to this identity: its own and the org-wide ones. */
  readonly appliesTo?: string;
  readonly action?: RuleAction;
  readonly kind?: RuleKind;
  readonly limit: number;
  /** Keyset position: rules with a greater id. */
  readonly afterId?: string;
}

/** Rules of the org in id (creation) order; up to `limit + 1` rows. */
export async function listContactRules(db: Db, orgId: string, q: ContactRuleQuery): Promise<ContactRuleRow[]> {
  let query = db.selectFrom('contact_rules').selectAll().where('org_id', '=', orgId);
  if (q.appliesTo !== undefined) {
    const id = q.appliesTo;
    query = query.where((eb) => eb.or([eb('identity_id', 'is', null), eb('identity_id', '=', id)]));
  }
  if (q.action) query = query.where('action', '=', q.action);
  if (q.kind) query = query.where('kind', '=', q.kind);
  if (q.afterId) query = query.where('id', '>', q.afterId);
  return query.orderBy('id').limit(q.limit + 1).execute();
}

/**
 * The rules of the org that apply to `identityId` and could match one of `addresses`
 * (by their candidate patterns); {@link decide} picks among them.
 */
export async function rulesFor(db: Db, orgId: string, identityId: string, addresses: readonly string[]): Promise<ContactRule[]> {
  const patterns = [...new Set(addresses.flatMap((a) => candidatePatterns(a).map((c) => c.pattern)))];
  if (patterns.length === 0) return [];
  const rows = await db.selectFrom('contact_rules').selectAll()
    .where('org_id', '=', orgId)
    .where((eb) => eb.or([eb('identity_id', 'is', null), eb('identity_id', '=', identityId)]))
    .where('pattern', 'in', patterns)
    .execute();
  return rows.map(ruleOf);
}
