/**
 * A view's filter as one caller sees it, narrowed by parameters the caller adds
 * (`GET /v1/conversations?view_id=…&…`, `GET /v1/views/counts?identity_id=…`).
 *
 * - The view's saved parameters are resolved for the caller: `assigned_to: "me"` and
 *   `scope` mean the caller's member; a key that acts as no member, or a key scoped to
 *   an identity other than the one the view names, sees nothing in that view (where the
 *   same parameters sent directly would be a 400 or a 403: the view is not the
 *   caller's mistake).
 * - Parameters sent with `view_id` narrow the view (both must hold). Contradicting
 *   values (`unread=false` on the Unread view, another identity, another assignee)
 *   match nothing; a time window is the overlap of both. A second `label`, `with` or
 *   `with_domain` cannot be expressed by one list query and is a 400.
 */
import { AppError } from '../errors.js';
import type { Principal } from '../services/access.js';
import type { ConversationFilter } from '../store/conversations.js';
import { instant, toStoreFilter, type ConversationFilterParams } from './conversation-filter.js';
import { identityScope } from './scope.js';

/**
 * Checks a filter before it is saved: its times are representable, and a key scoped to
 * one identity names no other.
 *
 * @throws AppError `validation_failed` (param `filter.<field>`), `forbidden_identity`.
 */
export function checkSavedFilter(p: Principal, filter: ConversationFilterParams): void {
  if (filter.since !== undefined) instant(filter.since, 'filter.since');
  if (filter.until !== undefined) instant(filter.until, 'filter.until');
  identityScope(p, filter.identity_id, 'filter.identity_id');
}

/**
 * A saved view's filter for this caller, or null when nothing can match.
 *
 * @throws AppError `validation_failed` for a time JavaScript cannot hold (never for a
 *   filter that passed {@link checkSavedFilter}).
 */
export function savedViewFilter(p: Principal, saved: ConversationFilterParams): ConversationFilter | null {
  if (p.memberId === null && (saved.assigned_to === 'me' || saved.scope !== undefined)) return null;
  if (p.identityId !== null && saved.identity_id !== undefined && saved.identity_id !== p.identityId) return null;
  return toStoreFilter(p, saved);
}

/** API parameter names of the store filter's fields, for errors. */
const PARAM: Record<keyof ConversationFilter, string> = {
  identityId: 'identity_id', channel: 'channel', archived: 'archived', with: 'with', withDomain: 'with_domain', since: 'since', until: 'until',
  overdue: 'overdue', starred: 'starred', unread: 'unread', label: 'label', assignedTo: 'assigned_to',
  notAssignedTo: 'scope', isBlocked: 'is_blocked', q: 'q',
};

/** Fields one list query can hold only one value of. */
const SINGLE_VALUED = new Set<keyof ConversationFilter>(['with', 'withDomain', 'label', 'notAssignedTo', 'q']);

/**
 * The conversations both filters match, as one filter, or null when none can.
 *
 * @throws AppError `validation_failed` when both name a different `label`, `with`,
 *   `with_domain`, `scope` or `q` (one query takes one of each).
 */
export function intersectFilters(a: ConversationFilter, b: ConversationFilter): ConversationFilter | null {
  const keys = (Object.keys(b) as (keyof ConversationFilter)[]).filter((k) => b[k] !== undefined && a[k] !== undefined && a[k] !== b[k]);
  for (const key of keys.filter((k) => SINGLE_VALUED.has(k))) {
    const param = PARAM[key];
    throw new AppError('validation_failed', `The view already filters on ${param} ${JSON.stringify(a[key])}; a list takes one ${param}.`, {
      param, fix: `Leave ${param} out to list the view, or list without view_id and combine the view's other parameters with yours.`,
    });
  }
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) if (value !== undefined && out[key] === undefined) out[key] = value;
  for (const key of keys) {
    const [av, bv] = [a[key] as string, b[key] as string];
    if (key === 'since') out.since = Date.parse(av) >= Date.parse(bv) ? av : bv;
    else if (key === 'until') out.until = Date.parse(av) <= Date.parse(bv) ? av : bv;
    else return null;
  }
  return out as ConversationFilter;
}

/**
 * A view's filter for this caller, narrowed by the parameters the caller sent with it;
 * null when nothing can match.
 *
 * @throws AppError as {@link toStoreFilter} for the caller's own parameters, and as
 *   {@link intersectFilters}.
 */
export function narrowView(p: Principal, saved: ConversationFilterParams, params: ConversationFilterParams): ConversationFilter | null {
  const own = toStoreFilter(p, params);
  const view = savedViewFilter(p, saved);
  if (!own || !view) return null;
  // Hiding blocked senders is the list's default, not something either side asked for:
  // it must not contradict the other side asking for them. Neither asking hides them.
  const out = intersectFilters(
    saved.is_blocked === undefined ? { ...view, isBlocked: undefined } : view,
    params.is_blocked === undefined ? { ...own, isBlocked: undefined } : own,
  );
  return out && { ...out, isBlocked: out.isBlocked ?? false };
}
