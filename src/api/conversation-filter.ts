/**
 * The conversation-list filter as the API takes it (query parameters of
 * `GET /v1/conversations`, and the saved filter of a view), and its translation into the
 * store's filter for one caller: `me` and `scope` resolve to the caller's member, and an
 * identity-scoped key is held to its identity and never sees blocked senders.
 */
import Type, { type Static } from 'typebox';
import { parseSearchQuery } from '../domain/search-text.js';
import { AppError } from '../errors.js';
import { isId } from '../ids.js';
import type { Principal } from '../services/access.js';
import type { ConversationFilter } from '../store/conversations.js';
import { ChannelName, Label } from './schemas.js';
import { identityScope } from './scope.js';

/** The filter fields (every list parameter except paging). */
export const FilterFields = {
  identity_id: Type.Optional(Type.String({ maxLength: 100 })),
  channel: Type.Optional(ChannelName),
  archived: Type.Optional(Type.Boolean()),
  with: Type.Optional(Type.String({ maxLength: 320, description: 'exact participant address' })),
  with_domain: Type.Optional(Type.String({ maxLength: 253, pattern: '^[A-Za-z0-9.-]+$', description: 'participant domain or parent domain' })),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'last_event_at >= since' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'last_event_at < until' })),
  overdue: Type.Optional(Type.Boolean({ description: 'only conversations past (true) or not past (false) their SLA deadline' })),
  starred: Type.Optional(Type.Boolean()),
  unread: Type.Optional(Type.Boolean({ description: 'with unread messages (true) or none (false)' })),
  label: Type.Optional(Label),
  assigned_to: Type.Optional(Type.String({ maxLength: 100, description: 'a member id, `me` (the member the key acts as) or `none`' })),
  scope: Type.Optional(Type.Union([Type.Literal('mine'), Type.Literal('team')], {
    description: '`mine`: assigned to the member the key acts as; `team`: everything else (unassigned or assigned to others)',
  })),
  is_blocked: Type.Optional(Type.Boolean({ description: 'blocked senders are hidden unless this is given' })),
  q: Type.Optional(Type.String({
    minLength: 1, maxLength: 200,
    description: 'full text: conversations with a message whose subject, body, addresses or display names hold every word '
      + '(case and accents ignored; `word*` matches words starting with `word`); each result gets `search` with a snippet',
  })),
};

export const ConversationFilterSchema = Type.Object(FilterFields, { additionalProperties: false, $id: 'ConversationFilter' });
export type ConversationFilterParams = Static<typeof ConversationFilterSchema>;

/**
 * An RFC 3339 time as the store's UTC form. The schema's `date-time` format admits what
 * JavaScript dates cannot hold (a leap second, `23:59:60`); those are a 400 here.
 */
export function instant(value: string, param: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new AppError('validation_failed', `${param} is not a time JavaScript can represent.`, { param });
  return new Date(t).toISOString();
}

/** The terms of `q`; @throws AppError `validation_failed` when it has no word to look for. */
function searchTerms(q: string) {
  const terms = parseSearchQuery(q);
  if (terms.length === 0) {
    throw new AppError('validation_failed', '`q` has no word to search for: it needs at least one letter or digit.', {
      param: 'q', fix: 'Search for words (letters or digits); punctuation only separates them. Leave `q` out to list everything.',
    });
  }
  return terms;
}

function me(p: Principal, param: string): string {
  if (p.memberId === null) {
    throw new AppError('validation_failed', `\`${param}\` needs a key that acts as a member; this key acts as none.`, {
      param, fix: 'Use a key created with a `member_id`, or name the member id instead of `me`.',
    });
  }
  return p.memberId;
}

/**
 * The store filter for these parameters as this principal sees them, or null when
 * nothing can match (an id of the wrong shape).
 *
 * @throws AppError `forbidden_identity` (a scoped key naming another identity),
 *   `validation_failed` (`me` or `scope` without a member, a bad time, a `q` without words).
 */
export function toStoreFilter(p: Principal, q: ConversationFilterParams): ConversationFilter | null {
  const terms = q.q === undefined ? undefined : searchTerms(q.q);
  if (p.identityId !== null && q.is_blocked === true) return null;
  const identityId = identityScope(p, q.identity_id);
  if (identityId !== undefined && !isId('idn', identityId)) return null;
  let assignedTo: string | null | undefined;
  if (q.assigned_to === 'none') assignedTo = null;
  else if (q.assigned_to === 'me') assignedTo = me(p, 'assigned_to');
  else if (q.assigned_to !== undefined) {
    if (!isId('mem', q.assigned_to)) return null;
    assignedTo = q.assigned_to;
  }
  if (q.scope === 'mine') {
    const mine = me(p, 'scope');
    if (assignedTo !== undefined && assignedTo !== mine) return null;
    assignedTo = mine;
  }
  return {
    identityId,
    channel: q.channel,
    q: terms,
    archived: q.archived,
    with: q.with?.trim().toLowerCase(),
    withDomain: q.with_domain?.toLowerCase().replace(/^\.+/, ''),
    since: q.since ? instant(q.since, 'since') : undefined,
    until: q.until ? instant(q.until, 'until') : undefined,
    overdue: q.overdue,
    starred: q.starred,
    unread: q.unread,
    label: q.label,
    assignedTo,
    notAssignedTo: q.scope === 'team' ? me(p, 'scope') : undefined,
    // Blocked senders stay out of sight unless asked for; scoped keys never see them.
    isBlocked: p.identityId !== null ? false : (q.is_blocked ?? false),
  };
}
