/**
 * `switchboard login-link`: prints a one-time sign-in link to the web inbox for a member
 * (services/sessions.ts), made on the store directly (the operator's authority), so the
 * first person can sign in before any mailbox can e-mail links.
 *
 * `--json` prints `{"url", "expires_at", "member_id", "org_id"}`.
 */
import { systemClock } from '../clock.js';
import type { Config } from '../config.js';
import { isId } from '../ids.js';
import { issueLoginLink } from '../services/sessions.js';
import { findFirstOwner, findMember, findMemberByEmail } from '../store/members.js';
import { openStore } from '../store/open.js';
import { pickOrganization } from './organizations.js';

export interface LoginLinkOptions {
  readonly org?: string;
  /** Member id or email; default the organization's first owner. */
  readonly member?: string;
  /** Where people reach the server; default PUBLIC_URL, else `http://localhost:<PORT>`. */
  readonly baseUrl?: string;
  readonly json?: boolean;
}

/**
 * Issues the link and prints it.
 *
 * @throws Error when no organization can be picked, the member is unknown, or the
 *   organization has no owner to default to (run `switchboard init`).
 */
export async function runLoginLink(config: Config, o: LoginLinkOptions): Promise<void> {
  const store = await openStore(config);
  try {
    const org = await pickOrganization(store.db, o.org);
    if (!org) throw new Error('the store has no organization yet: run `switchboard init` first');
    const member = o.member
      ? await (isId('mem', o.member) ? findMember(store.db, org.id, o.member) : findMemberByEmail(store.db, org.id, o.member))
      : await findFirstOwner(store.db, org.id);
    if (!member) {
      throw new Error(o.member
        ? `no member ${o.member} in organization ${org.id} (GET /v1/members lists them)`
        : `organization ${org.id} has no owner member: run \`switchboard init\` to create one`);
    }
    const base = (o.baseUrl ?? config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/+$/, '');
    const link = await issueLoginLink(store, member, base, systemClock, config.loginLinkTtlMs);
    process.stdout.write(o.json
      ? `${JSON.stringify({ url: link.url, expires_at: link.expires_at, member_id: member.id, org_id: org.id })}\n`
      : `Sign-in link for ${member.email} (${member.id}), valid once until ${link.expires_at}:\n\n  ${link.url}\n`);
  } finally {
    await store.close();
  }
}
