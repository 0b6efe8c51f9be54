/**
 * Webhook endpoints, their deliveries (one per endpoint and event: the outbox) and the
 * attempts of each delivery. Every read is scoped by organization.
 */
import type { Selectable } from 'kysely';
import type { Db } from './store.js';
import type { WebhookAttemptsTable, WebhookDeliveriesTable, WebhookEndpointsTable } from './schema.js';

export type EndpointRow = Selectable<WebhookEndpointsTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;
export type AttemptRow = Selectable<WebhookAttemptsTable>;

/** int8 columns come back as strings from some drivers: numbers here. */
export function endpointFromRow(row: EndpointRow): EndpointRow {
  return { ...row, cursor_seq: Number(row.cursor_seq) };
}

export async function findEndpoint(db: Db, orgId: string, id: string): Promise<EndpointRow | undefined> {
  const row = await db.selectFrom('webhook_endpoints').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  return row && endpointFromRow(row);
}

/** Endpoints of the org, newest first, keyset-paged on `id`; `limit + 1` rows. */
export async function listEndpoints(db: Db, orgId: string, limit: number, beforeId?: string): Promise<EndpointRow[]> {
  let q = db.selectFrom('webhook_endpoints').selectAll().where('org_id', '=', orgId);
  if (beforeId) q = q.where('id', '<', beforeId);
  return (await q.orderBy('id', 'desc').limit(limit + 1).execute()).map(endpointFromRow);
}

export async function findDelivery(db: Db, orgId: string, endpointId: string, id: string): Promise<DeliveryRow | undefined> {
  return db.selectFrom('webhook_deliveries').selectAll()
    .where('org_id', '=', orgId).where('endpoint_id', '=', endpointId).where('id', '=', id).executeTakeFirst();
}

/** Deliveries of an endpoint, newest first, keyset-paged on `id`; `limit + 1` rows. */
export async function listDeliveries(
  db: Db, orgId: string, endpointId: string, q: { limit: number; beforeId?: string; status?: string },
): Promise<DeliveryRow[]> {
  let query = db.selectFrom('webhook_deliveries').selectAll().where('org_id', '=', orgId).where('endpoint_id', '=', endpointId);
  if (q.status) query = query.where('status', '=', q.status);
  if (q.beforeId) query = query.where('id', '<', q.beforeId);
  return query.orderBy('id', 'desc').limit(q.limit + 1).execute();
}

/** The attempts of some deliveries, oldest first, grouped by delivery id. */
export async function attemptsOf(db: Db, deliveryIds: readonly string[]): Promise<Map<string, AttemptRow[]>> {
  const out = new Map<string, AttemptRow[]>(deliveryIds.map((id) => [id, []]));
  if (deliveryIds.length === 0) return out;
  const rows = await db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', [...deliveryIds]).orderBy('id').execute();
  for (const r of rows) out.get(r.delivery_id)!.push(r);
  return out;
}
