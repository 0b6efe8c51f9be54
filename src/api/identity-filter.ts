/**
 * The `identity_id` filter of list and count routes (`GET /v1/conversations`,
 * `/v1/connections`, `/v1/channel_accounts`, …). An identity that does not exist in the
 * caller's organization is a 404 naming the parameter, never an empty list that reads
 * as "this identity has nothing" (Inkbox, "List conversations": 404 when
 * `agent_identity_id` is not found or not visible). Another organization's identity
 * looks exactly like a missing one.
 */
import { AppError } from '../errors.js';
import { isId } from '../ids.js';
import type { Principal } from '../services/access.js';
import { findIdentity } from '../store/identities.js';
import type { Db } from '../store/store.js';
import { identityScope } from './scope.js';

/**
 * The identity a list is limited to, checked to exist in the caller's organization.
 *
 * @param requested the query parameter as sent (undefined when absent).
 * @param param the parameter's name, for the problem's `param`.
 * @returns the key's own identity when it is scoped, else `requested` (undefined: no filter).
 * @throws AppError `forbidden_identity` (403) when a scoped key names another identity;
 *   `not_found` (404, `param`) when `requested` is malformed, missing or another
 *   organization's.
 */
export async function identityFilter(db: Db, p: Principal, requested: string | undefined, param = 'identity_id'): Promise<string | undefined> {
  const identityId = identityScope(p, requested, param);
  if (requested === undefined) return identityId;
  if (!isId('idn', requested) || !(await findIdentity(db, p.orgId, requested))) {
    throw new AppError('not_found', `No identity ${requested} in this organization.`, {
      param, fix: 'List the identities (GET /v1/identities) and use one of their ids, or leave the parameter out.',
    });
  }
  return identityId;
}
