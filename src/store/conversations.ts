/**
 * Conversation rows: creation, scoped reads and the keyset-paged list.
 */
import { emptySummary } from '../domain/projection.js';
import { subjectKey } from '../domain/threading.js';
import { newId } from '../ids.js';
import type { Db } from './store.js';
import { summaryColumns, type ConversationRow } from './timeline.js';

export interface NewConversation {
  readonly orgId: string;
  readonly identityId: string;
  readonly accountId: string;
  readonly channel: string;
  readonly subject: string | null;
  readonly counterpart: string | null;
  readonly contactId: string | null;
  /** RFC 3339; the summary starts here. */
  readonly at: string;
}

/** Inserts an empty conversation and returns its row. */
export async function createConversation(db: Db, c: NewConversation): Promise<ConversationRow> {
  const row = {
    id: newId('conv'),
    org_id: c.orgId,
    identity_id: c.identityId,
    account_id: c.accountId,
    channel: c.channel,
    subject: c.subject,
    counterpart: c.counterpart,
    contact_id: c.contactId,
    created_at: new Date().toISOString(),
    subject_key: subjectKey(c.subject),
    ...summaryColumns(emptySummary(c.at)),
  } as ConversationRow;
  await db.insertInto('conversations').values(row).execute();
  return row;
}

/** Conversations of the org (or one identity) past their SLA deadline; an index lookup. */
export async function countOverdue(db: Db, orgId: string, identityId?: string): Promise<number> {
  let q = db.selectFrom('conversations').select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('org_id', '=', orgId).where('overdue', '=', 1);
  if (identityId !== undefined) q = q.where('identity_id', '=', identityId);
  const row = await q.executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A conversation of the org, or undefined (missing and foreign look the same). */
export async function findConversation(db: Db, orgId: string, id: string): Promise<ConversationRow | undefined> {
  return db.selectFrom('conversations').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

export interface ConversationFilter {
  readonly identityId?: string;
  readonly archived?: boolean;
  /** Exact participant address (lower-case). */
  readonly with?: string;
  /** Participant domain suffix (`example.com` matches `mail.example.com`); letters, digits, `.` and `-` only. */
  readonly withDomain?: string;
  /** Inclusive lower bound on `last_event_at`, RFC 3339. */
  readonly since?: string;
  /** Exclusive upper bound on `last_event_at`, RFC 3339. */
  readonly until?: string;
  /** Past (true) or not past (false) the SLA deadline. */
  readonly overdue?: boolean;
}

export interface ConversationPageQuery extends ConversationFilter {
  readonly limit: number;
  /** Keyset position: rows strictly after it in (`last_event_at` desc, `id` desc). */
  readonly after?: { readonly lastEventAt: string; readonly id: string };
}

/**
 * Newest activity first, keyset-paged on (`last_event_at`, `id`); returns up to
 * `limit + 1` rows so the caller can tell whether another page follows.
 */
export async function listConversations(db: Db, orgId: string, q: ConversationPageQuery): Promise<ConversationRow[]> {
  let query = db.selectFrom('conversations').selectAll().where('org_id', '=', orgId);
  if (q.identityId) query = query.where('identity_id', '=', q.identityId);
  if (q.archived !== undefined) query = query.where('archived', '=', q.archived ? 1 : 0);
  if (q.overdue !== undefined) query = query.where('overdue', '=', q.overdue ? 1 : 0);
  if (q.since) query = query.where('last_event_at', '>=', q.since);
  if (q.until) query = query.where('last_event_at', '<', q.until);
  if (q.with) {
    const address = q.with;
    query = query.where((eb) => eb.exists(
      eb.selectFrom('conversation_participants as p').select('p.address')
        .whereRef('p.conversation_id', '=', 'conversations.id')
        .where('p.org_id', '=', orgId).where('p.address', '=', address),
    ));
  }
  if (q.withDomain) {
    const domain = q.withDomain;
    query = query.where((eb) => eb.exists(
      eb.selectFrom('conversation_participants as p').select('p.address')
        .whereRef('p.conversation_id', '=', 'conversations.id')
        .where('p.org_id', '=', orgId)
        .where((w) => w.or([w('p.domain', '=', domain), w('p.domain', 'like', `%.${domain}`)])),
    ));
  }
  if (q.after) {
    const { lastEventAt, id } = q.after;
    query = query.where((eb) => eb.or([
      eb('last_event_at', '<', lastEventAt),
      eb.and([eb('last_event_at', '=', lastEventAt), eb('id', '<', id)]),
    ]));
  }
  return query.orderBy('last_event_at', 'desc').orderBy('id', 'desc').limit(q.limit + 1).execute();
}
