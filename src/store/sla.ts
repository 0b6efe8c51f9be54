/**
 * The organization's SLA policy row (`GET|PUT /v1/sla`).
 */
import type { SlaPolicy } from '../domain/projection.js';
import type { Db } from './store.js';

export interface SlaPolicyRow extends SlaPolicy {
  readonly updated_at: string | null;
}

/** The policy of `orgId`; no row means no targets. */
export async function getSlaPolicy(db: Db, orgId: string): Promise<SlaPolicyRow> {
  const row = await db.selectFrom('sla_policies').selectAll().where('org_id', '=', orgId).executeTakeFirst();
  return {
    first_response_ms: row?.first_response_ms == null ? null : Number(row.first_response_ms),
    next_response_ms: row?.next_response_ms == null ? null : Number(row.next_response_ms),
    updated_at: row?.updated_at ?? null,
  };
}

/** Replaces the policy of `orgId`. */
export async function putSlaPolicy(db: Db, orgId: string, policy: SlaPolicy, at: string): Promise<void> {
  const values = { first_response_ms: policy.first_response_ms, next_response_ms: policy.next_response_ms, updated_at: at };
  await db.insertInto('sla_policies').values({ org_id: orgId, ...values })
    .onConflict((oc) => oc.column('org_id').doUpdateSet(values)).execute();
}
