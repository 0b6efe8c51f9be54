/**
 * Webhook endpoint commands: create (the signing secret is returned this once),
 * change, delete, and replay of a delivery.
 */
import crypto from 'node:crypto';
import type { Clock } from '../clock.js';
import { AppError, notFound } from '../errors.js';
import { newId } from '../ids.js';
import type { Store } from '../store/store.js';
import { findDelivery, findEndpoint, type DeliveryRow, type EndpointRow } from '../store/webhooks.js';
import { assertWebhookTarget, type WebhookTargetRules } from './webhook-target.js';

export interface EndpointInput {
  readonly url: string;
  /** Event types to deliver; empty or absent means all. */
  readonly event_types?: readonly string[];
  readonly description?: string | null;
  readonly enabled?: boolean;
}

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(32).toString('base64')}`;
}

/**
 * Creates an endpoint. It receives events committed after this call.
 *
 * @param rules what the URL may reach (this server's ports are refused; private addresses unless allowed).
 * @throws AppError `validation_failed`, `webhook_target_refused`.
 */
export async function createEndpoint(store: Store, orgId: string, input: EndpointInput, rules: WebhookTargetRules, clock: Clock): Promise<EndpointRow> {
  await assertWebhookTarget(input.url, rules);
  const now = new Date(clock.now()).toISOString();
  return store.transaction(async (tx) => {
    const seq = await tx.selectFrom('org_sequences').select('last_seq').where('org_id', '=', orgId).executeTakeFirst();
    const row: EndpointRow = {
      id: newId('whk'), org_id: orgId, url: input.url, description: input.description ?? null,
      event_types: JSON.stringify([...new Set(input.event_types ?? [])]), secret: newWebhookSecret(),
      enabled: input.enabled === false ? 0 : 1, disabled_reason: null, cursor_seq: Number(seq?.last_seq ?? 0),
      failing_since: null, created_at: now, updated_at: now,
    };
    await tx.insertInto('webhook_endpoints').values(row).execute();
    return row;
  });
}

/**
 * Changes an endpoint. Enabling it clears the failure streak and resumes delivery from
 * where it stopped.
 *
 * @throws AppError `not_found`, `no_valid_fields`, `validation_failed`, `webhook_target_refused`.
 */
export async function updateEndpoint(store: Store, orgId: string, id: string, patch: Partial<EndpointInput>, rules: WebhookTargetRules, clock: Clock): Promise<EndpointRow> {
  if (patch.url === undefined && patch.event_types === undefined && patch.description === undefined && patch.enabled === undefined) {
    throw new AppError('no_valid_fields', 'The body changes nothing: send `url`, `event_types`, `description` or `enabled`.');
  }
  if (patch.url !== undefined) await assertWebhookTarget(patch.url, rules);
  const row = await findEndpoint(store.db, orgId, id);
  if (!row) throw notFound('webhook endpoint');
  const next = {
    url: patch.url ?? row.url,
    description: patch.description === undefined ? row.description : patch.description,
    event_types: patch.event_types === undefined ? row.event_types : JSON.stringify([...new Set(patch.event_types)]),
    ...(patch.enabled === undefined ? {} : patch.enabled
      ? { enabled: 1, disabled_reason: null, failing_since: null }
      : { enabled: 0, disabled_reason: 'disabled through the API' }),
    updated_at: new Date(clock.now()).toISOString(),
  };
  await store.db.updateTable('webhook_endpoints').set(next).where('org_id', '=', orgId).where('id', '=', id).execute();
  return { ...row, ...next };
}

/** Deletes an endpoint with its deliveries and their attempts. @throws AppError `not_found`. */
export async function deleteEndpoint(store: Store, orgId: string, id: string): Promise<void> {
  await store.transaction(async (tx) => {
    const res = await tx.deleteFrom('webhook_endpoints').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw notFound('webhook endpoint');
    await tx.deleteFrom('webhook_attempts')
      .where('delivery_id', 'in', tx.selectFrom('webhook_deliveries').select('id').where('endpoint_id', '=', id)).execute();
    await tx.deleteFrom('webhook_deliveries').where('endpoint_id', '=', id).execute();
  });
}

/**
 * Queues a delivery to be sent again now, with the same `webhook-id` (receivers that
 * already have it can drop it). It gets one attempt, and retries only while it has
 * attempts left of its schedule.
 *
 * @throws AppError `not_found`.
 */
export async function replayDelivery(store: Store, orgId: string, endpointId: string, id: string, clock: Clock): Promise<DeliveryRow> {
  const now = new Date(clock.now()).toISOString();
  const found = await findDelivery(store.db, orgId, endpointId, id);
  if (!found) throw notFound('delivery');
  const next = { status: 'pending', next_attempt_at: now, claimed_until: null, updated_at: now };
  await store.db.updateTable('webhook_deliveries').set(next).where('id', '=', id).execute();
  return { ...found, ...next };
}
