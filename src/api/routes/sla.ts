/**
 * The SLA policy (SPEC section 6): `GET|PUT /v1/sla`. Targets are in ms; null means no
 * target. A new policy applies to conversations whose clock starts after the change
 * (deadlines already set keep their time).
 */
import Type from 'typebox';
import { isoNow } from '../../clock.js';
import { getSlaPolicy, putSlaPolicy } from '../../store/sla.js';
import { principalOf } from '../auth.js';
import { Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';

const YEAR_MS = 366 * 24 * 60 * 60 * 1000;
const Target = (what: string) => Type.Union([Type.Integer({ minimum: 1, maximum: YEAR_MS }), Type.Null()], {
  description: `${what}, ms after the inbound message that starts the clock; null for none`,
});

const SlaBody = Type.Object({
  first_response_ms: Target('time allowed for the first outbound reply in a conversation'),
  next_response_ms: Target('time allowed for each later reply'),
}, { additionalProperties: false });

const SlaPolicy = Type.Object({
  first_response_ms: Target('time allowed for the first outbound reply in a conversation'),
  next_response_ms: Target('time allowed for each later reply'),
  updated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
}, { $id: 'SlaPolicy' });

export function slaRoutes(app: Api, { store, clock }: ApiContext): void {
  app.get('/v1/sla', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['sla'], summary: 'The SLA policy', response: { 200: SlaPolicy, 401: Problem } },
  }, async (request) => getSlaPolicy(store.db, principalOf(request).orgId));

  app.put('/v1/sla', {
    config: { permission: 'settings:manage' },
    schema: { tags: ['sla'], summary: 'Replace the SLA policy', body: SlaBody, response: { 200: SlaPolicy, 400: Problem, 401: Problem } },
  }, async (request) => {
    const { orgId } = principalOf(request);
    await putSlaPolicy(store.db, orgId, request.body, isoNow(clock));
    return getSlaPolicy(store.db, orgId);
  });
}
