/**
 * Inbound mail authentication: SPF (RFC 7208), DKIM (RFC 6376), DMARC (RFC 7489) and ARC
 * (RFC 8617), checked by `mailauth` for mail that arrives over SMTP or the inbound HTTP
 * route. All DNS goes through one resolver, so a deployment can point it anywhere and
 * the tests serve their own records.
 */
import dns from 'node:dns';
import { authenticate, type DNSResolver } from 'mailauth';
import { getDomain } from 'tldts';
import type { AuthCheck, MessageAuthentication } from '../domain/events.js';

/** A DNS lookup: records of `rrtype` for `name`, as `dns.promises.resolve` returns them; rejects with a DNS error code (`ENOTFOUND`, `ENODATA`). */
export type DnsResolver = DNSResolver;

/** How the message reached us: the SMTP client and envelope, as far as known. */
export interface Arrival {
  readonly transport: 'smtp' | 'http';
  /** The connecting client's IP address (SMTP), or the one an HTTP caller reports; null when unknown (then SPF is `none`). */
  readonly clientIp: string | null;
  /** The client's HELO/EHLO name. */
  readonly helo: string | null;
  /** The envelope sender (`MAIL FROM`). */
  readonly mailFrom: string | null;
}

export interface AuthenticationOutcome {
  readonly authentication: MessageAuthentication;
  /** `Received-SPF` and `Authentication-Results` header lines (CRLF-terminated) to put on top of the stored copy. */
  readonly headers: string;
}

/**
 * The system resolver (`dns.promises.resolve`) with a per-lookup time limit, ms.
 *
 * @param servers DNS servers to ask (`IP` or `IP:port`, as `dns.setServers` takes them);
 *   empty: the system's (`/etc/resolv.conf`).
 */
export function systemResolver(timeoutMs = 2_000, servers: readonly string[] = []): DnsResolver {
  const resolver = new dns.promises.Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers.length > 0) resolver.setServers([...servers]);
  return (name, rrtype) => resolver.resolve(name, rrtype) as Promise<string[][] | string[]>;
}

const organizational = (domain: string) => (getDomain(domain) ?? domain).toLowerCase();

/**
 * Authenticates one message. Never throws for what the message or DNS holds: a lookup
 * that fails is a `temperror`/`none` verdict, as mailauth reports it.
 *
 * @param mta the name of this server, written into `Authentication-Results`.
 */
export async function authenticateMessage(raw: Buffer, arrival: Arrival, resolver: DnsResolver, mta: string): Promise<AuthenticationOutcome> {
  const r = await authenticate(raw, {
    ip: arrival.clientIp ?? undefined,
    helo: arrival.helo ?? undefined,
    sender: arrival.mailFrom ?? undefined,
    mta, resolver, disableBimi: true,
  });
  const fromDomain = r.dkim?.headerFrom?.[0]?.split('@').pop()?.toLowerCase() ?? null;
  const spf: AuthCheck = { result: r.spf ? r.spf.status.result : 'none', domain: r.spf ? (r.spf as { domain?: string }).domain ?? null : null };
  const dkim = (r.dkim?.results ?? []).map((d) => ({
    result: d.status.result,
    domain: (d as { signingDomain?: string }).signingDomain ?? null,
    selector: (d as { selector?: string }).selector ?? null,
  }));
  const found = (r.dmarc || null) as { status: { result: string }; domain?: string; policy?: string } | null;
  const dmarc = { result: found?.status.result ?? 'none', domain: found?.domain ?? fromDomain, policy: found?.policy ?? null };
  const passing = [...(spf.result === 'pass' && spf.domain ? [spf.domain] : []), ...dkim.filter((d) => d.result === 'pass' && d.domain).map((d) => d.domain!)];
  const aligned = dmarc.result === 'pass'
    || (fromDomain !== null && passing.some((d) => organizational(d) === organizational(fromDomain)));
  return {
    authentication: { spf, dkim: dkim.length ? dkim : [{ result: 'none', domain: null, selector: null }], dmarc, arc: { result: r.arc ? r.arc.status.result : 'none' }, aligned },
    headers: r.headers,
  };
}
