/**
 * Outbound HTTP to addresses a tenant or a provider's webhook chose (webhook targets,
 * provider base URLs, inbound media URLs), refused when it would reach a private,
 * loopback, link-local or otherwise non-public address: server-side request forgery
 * protection (OWASP SSRF Prevention Cheat Sheet, "Application layer").
 *
 * The check sits in the connection itself (an undici dispatcher whose connector refuses
 * such an address and resolves names through a lookup that does the same), so it holds
 * for every redirect hop and for the address actually connected to: a name that
 * resolves to a public address when checked and a private one when connected (DNS
 * rebinding) is still refused. Ranges are ipaddr.js's (IANA special-purpose registries,
 * RFC 6890): only `unicast` passes; IPv4-mapped IPv6 addresses are judged as IPv4.
 *
 * Operators whose receivers or providers live on their own network turn the check off
 * with `OUTBOUND_ALLOW_PRIVATE=true` (the test suite does, for its loopback fakes).
 */
import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector } from 'undici';

/** Whether `address` (IPv4 or IPv6 text) is a public unicast address. False for anything unparsable. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
    // IPv4-compatible (::a.b.c.d, RFC 4291 2.5.5.1, deprecated): ipaddr.js calls it unicast.
    else if (v6.parts.slice(0, 6).every((p) => p === 0)) return false;
  }
  return parsed.range() === 'unicast';
}

/**
 * Thrown (as the `cause` of fetch's TypeError) when a connection would reach a
 * non-public address. The message names the host, never the address it resolved to
 * (tenants read it; an internal DNS answer is not theirs to learn): `address` has it.
 */
export class RefusedAddressError extends Error {
  readonly code = 'EADDRREFUSED_PRIVATE';
  constructor(readonly host: string, readonly address: string) {
    super(`${net.isIP(host) ? `${host} is` : `${host} resolves to`} a private or reserved address; outbound requests may only reach public addresses`);
    this.name = 'RefusedAddressError';
  }
}

/**
 * The addresses `host` (a name, or an IP literal with or without IPv6 brackets) resolves
 * to; [] when it does not resolve now.
 */
export async function addressesOf(host: string): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIP(bare)) return [bare];
  try {
    return (await dns.promises.lookup(bare, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}

/**
 * Whether `host` resolves to an address that is not public (false when it does not
 * resolve now: a connection checks again, {@link outboundFetch}).
 */
export async function reachesNonPublic(host: string): Promise<boolean> {
  return (await addressesOf(host)).some((a) => !isPublicAddress(a));
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** dns.lookup, failing when any address the name resolves to is not public (the connector's `lookup`; exported for tests). */
export function publicLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused) return callback(new RefusedAddressError(hostname, refused.address) as NodeJS.ErrnoException, []);
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
    return callback(null, first.address, first.family);
  });
}

let guarded: Agent | undefined;

/** The dispatcher that refuses non-public addresses (one per process, created on first use). */
function guardedDispatcher(): Agent {
  if (guarded) return guarded;
  const connect = buildConnector({ lookup: publicLookup } as buildConnector.BuildOptions);
  guarded = new Agent({
    connect: (options, callback) => {
      // An IP literal is connected to without a lookup, so it is checked here.
      const host = options.hostname.replace(/^\[|\]$/g, '');
      if (net.isIP(host) && !isPublicAddress(host)) return callback(new RefusedAddressError(host, host), null);
      return connect(options, callback);
    },
  });
  return guarded;
}

/** Whether outbound requests may reach private addresses (the `outboundAllowPrivate` setting). */
export interface OutboundPolicy {
  readonly outboundAllowPrivate: boolean;
}

/**
 * `fetch`, refusing connections to non-public addresses unless the policy allows them.
 *
 * @throws TypeError (fetch failed) whose `cause` is a {@link RefusedAddressError} when
 *   the URL, a redirect or the name's resolution reaches a non-public address; otherwise
 *   whatever fetch throws.
 */
export function outboundFetch(policy: OutboundPolicy, url: string | URL, init: RequestInit = {}): Promise<Response> {
  if (policy.outboundAllowPrivate) return fetch(url, init);
  // Node's fetch is undici's and takes its dispatcher (not in the DOM RequestInit type).
  return fetch(url, { ...init, dispatcher: guardedDispatcher() } as RequestInit);
}

/** A short reason for a failed outbound request: the refusal, a timeout, or the network error's code. */
export function outboundFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const refusal = refusalOf(err);
  if (refusal) return refusal.message;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** The refusal behind a failed outbound fetch, or null when it failed otherwise. */
export function refusalOf(err: unknown): RefusedAddressError | null {
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause instanceof RefusedAddressError ? cause : err instanceof RefusedAddressError ? err : null;
}

/**
 * A response body, at most `maxBytes` of it: reading stops there (leaving the loop
 * cancels the stream), and at once when `Content-Length` already says more.
 *
 * @returns the bytes read and whether they are the whole body.
 * @throws the stream's error when the body breaks off midway (an attachment cut short
 *   must not pass for a whole one).
 */
export async function readAtMost(res: Response, maxBytes: number): Promise<{ body: Buffer; complete: boolean }> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    return { body: Buffer.alloc(0), complete: false };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    const b = Buffer.from(chunk as Uint8Array);
    if (size + b.length > maxBytes) {
      chunks.push(b.subarray(0, maxBytes - size));
      return { body: Buffer.concat(chunks), complete: false };
    }
    chunks.push(b);
    size += b.length;
  }
  return { body: Buffer.concat(chunks), complete: true };
}

/**
 * A response body as text, at most `maxBytes` of it (a provider's answer or error page;
 * longer is cut); empty when it cannot be read.
 */
export async function readTextAtMost(res: Response, maxBytes: number): Promise<string> {
  return (await readAtMost(res, maxBytes).catch(() => ({ body: Buffer.alloc(0) }))).body.toString('utf8');
}
