/**
 * People's sign-in (the web inbox): one-time login links exchanged for browser sessions.
 *
 * - A **login link** is `<base>/login?token=sb_login_…`: 32 random bytes, of which only
 *   the SHA-256 is stored; it works once, within `LOGIN_LINK_TTL_MS` (15 minutes). The
 *   operator prints one (`switchboard login-link`), or a person asks for one by e-mail.
 * - A **session** is the cookie `sb_session` = `<session id>.<secret>` (HttpOnly,
 *   SameSite=Lax, Secure over TLS; OWASP Session Management Cheat Sheet), kept
 *   server-side (only the secret's hash) so that signing out, an administrator, or the
 *   member's removal ends it at once. It lasts `SESSION_TTL_MS` (14 days) after its last
 *   use. Requests that change something also carry the session's CSRF token in
 *   `X-CSRF-Token` (the synchronizer token pattern, OWASP CSRF Prevention Cheat Sheet;
 *   checked in api/auth.ts).
 * - A session acts as its member: the member's role narrows its permissions as it does
 *   an API key's, and a member limited to one identity (`identity_id`) sees only it.
 */
import crypto from 'node:crypto';
import type { Clock } from '../clock.js';
import { composeEmail } from '../email/compose.js';
import { deliverEmail } from '../email/transport.js';
import { AppError } from '../errors.js';
import { isId, newId } from '../ids.js';
import type { MemberRow } from '../store/members.js';
import {
  consumeLoginLink, deleteExpiredLoginLinks, findSession, insertLoginLink, insertSession, touchSession,
  type SessionRow,
} from '../store/sessions.js';
import type { Store } from '../store/store.js';
import { effectivePermissions, type Principal, type Role } from './access.js';
import { mailboxConfig } from './identities.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'sb_session';
/** The header a cookie-authenticated state-changing request carries its CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

const TOKEN_PATTERN = /^sb_login_([A-Za-z0-9_-]{43})$/;
const COOKIE_PATTERN = /^(ses_[0-9a-z]{26})\.([A-Za-z0-9_-]{43})$/;
/** How often a session's `last_seen_at` (and expiry) is written, ms: not on every request. */
const TOUCH_INTERVAL_MS = 60_000;

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
const randomToken = () => crypto.randomBytes(32).toString('base64url');
const iso = (ms: number) => new Date(ms).toISOString();

/** A login link just made: its URL (holding the token, shown once) and when it stops working. */
export interface LoginLink {
  readonly url: string;
  readonly expires_at: string;
}

/**
 * Makes a one-time login link for a member.
 *
 * @param baseUrl where people reach the web inbox (`https://switchboard.example.com`, no trailing slash).
 * @param ttlMs how long the link works, ms.
 */
export async function issueLoginLink(store: Store, member: MemberRow, baseUrl: string, clock: Clock, ttlMs: number): Promise<LoginLink> {
  const now = clock.now();
  const token = `sb_login_${randomToken()}`;
  const expires_at = iso(now + ttlMs);
  await deleteExpiredLoginLinks(store.db, iso(now));
  await insertLoginLink(store.db, {
    token_hash: sha256(token), org_id: member.org_id, member_id: member.id, created_at: iso(now), expires_at, used_at: null,
  });
  return { url: `${baseUrl}/login?token=${token}`, expires_at };
}

/** A session just started: its row and the cookie value (holding its secret, given to the browser once). */
export interface StartedSession {
  readonly session: SessionRow;
  readonly cookie: string;
}

/**
 * Exchanges a login link's token for a session (the link is used up in the same statement
 * that checks it, so a token works once even when two requests race).
 *
 * @throws AppError `unauthenticated` for a malformed, unknown, used or expired token, or
 *   a link whose member was removed since.
 */
export async function startSession(
  store: Store, token: string, userAgent: string | undefined, clock: Clock, ttlMs: number,
): Promise<StartedSession> {
  const invalid = () => new AppError('unauthenticated', 'The sign-in link is not valid: it was used already, has expired, or was never issued.', {
    fix: 'Ask for a new sign-in link (an e-mailed one, or `switchboard login-link` on the server).',
  });
  if (!TOKEN_PATTERN.test(token)) throw invalid();
  const now = clock.now();
  return store.transaction(async (tx) => {
    const link = await consumeLoginLink(tx, sha256(token), iso(now));
    if (!link) throw invalid();
    const member = await tx.selectFrom('members').select('id').where('org_id', '=', link.org_id).where('id', '=', link.member_id).executeTakeFirst();
    if (!member) throw invalid();
    const secret = randomToken();
    const session: SessionRow = {
      id: newId('ses'), org_id: link.org_id, member_id: link.member_id, secret_hash: sha256(secret), csrf_token: randomToken(),
      created_at: iso(now), expires_at: iso(now + ttlMs), last_seen_at: iso(now), revoked_at: null,
      user_agent: userAgent ? userAgent.slice(0, 300) : null,
    };
    await insertSession(tx, session);
    return { session, cookie: `${session.id}.${secret}` };
  });
}

/** A request's session: the principal it acts as, and the session row (for its CSRF token). */
export interface SessionAuth {
  readonly principal: Principal;
  readonly session: SessionRow;
}

/**
 * Resolves a session cookie to its member's principal (`keyId` is the session's id: what
 * events record as `by.key_id`, idempotency keys and rate limits are counted under), one
 * query per request. Extends the session (`SESSION_TTL_MS` from now) at most once a minute.
 *
 * @throws AppError `unauthenticated` for a malformed, unknown, revoked or expired session,
 *   or one whose member was removed.
 */
export async function authenticateSession(store: Store, cookie: string, clock: Clock, ttlMs: number): Promise<SessionAuth> {
  const fail = () => new AppError('unauthenticated', 'The session has ended (signed out, expired or revoked).', {
    fix: 'Sign in again with a new sign-in link.',
  });
  const m = COOKIE_PATTERN.exec(cookie);
  if (!m || !isId('ses', m[1]!)) throw fail();
  const row = await findSession(store.db, m[1]!);
  const ok = crypto.timingSafeEqual(Buffer.from(row?.secret_hash ?? sha256(''), 'hex'), Buffer.from(sha256(m[2]!), 'hex'));
  const now = clock.now();
  if (!row || !ok || row.revoked_at !== null || Date.parse(row.expires_at) <= now) throw fail();
  if (now - Date.parse(row.last_seen_at) > TOUCH_INTERVAL_MS) await touchSession(store.db, row.id, iso(now), iso(now + ttlMs));
  const role = row.role as Role;
  const identityId = row.member_identity_id;
  const { role: _role, member_identity_id: _scope, org_version, ...session } = row;
  return {
    session,
    principal: {
      orgId: row.org_id, keyId: row.id, memberId: row.member_id, role, identityId,
      permissions: effectivePermissions(null, role, identityId !== null),
      orgVersion: Number(org_version ?? 0),
    },
  };
}

/**
 * E-mails a login link to every member with this address (at most 5 organizations), from
 * the first active mailbox (oldest) of each organization that has a relay; an
 * organization without one sends nothing. Returns the deliveries to await (the route does
 * not: whether an address is a member must not show in the answer or its timing).
 */
export async function emailLoginLinks(
  store: Store, email: string, baseUrl: string, clock: Clock, ttlMs: number,
): Promise<{ sent: number; skipped: number }> {
  const members = await store.db.selectFrom('members').selectAll().where('email', '=', email.toLowerCase()).orderBy('id').limit(5).execute();
  let sent = 0, skipped = 0;
  for (const member of members) {
    const mailboxes = await store.db.selectFrom('channel_accounts').selectAll().where('org_id', '=', member.org_id)
      .where('channel', '=', 'email').where('status', '=', 'active').orderBy('id').execute();
    const from = mailboxes.find((a) => mailboxConfig(a).smtp !== null);
    if (!from) {
      skipped++;
      continue;
    }
    const link = await issueLoginLink(store, member, baseUrl, clock, ttlMs);
    const minutes = Math.round(ttlMs / 60_000);
    const raw = await composeEmail({
      from: { address: from.address, name: from.display_name ?? 'Switchboard' },
      to: [{ address: member.email, name: member.name }], cc: [],
      subject: 'Your Switchboard sign-in link',
      text: `Sign in to the Switchboard inbox:\n\n${link.url}\n\nThe link works once, for ${minutes} minutes. `
        + 'If you did not ask for it, ignore this message.\n',
      html: null, messageId: `${crypto.randomUUID()}@${from.address.split('@')[1]}`,
      inReplyTo: null, references: [], date: new Date(clock.now()),
    });
    await deliverEmail(mailboxConfig(from).smtp, { from: from.address, to: [member.email] }, raw);
    sent++;
  }
  return { sent, skipped };
}
