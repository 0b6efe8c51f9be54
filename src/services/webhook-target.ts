/**
 * Refuses webhook URLs that reach a private, loopback or link-local address (SSRF; see
 * net/outbound.ts, which checks every delivery's connection again) unless the operator
 * allows them (`OUTBOUND_ALLOW_PRIVATE`), and always those that point back at this
 * server's own listeners (a delivery to itself would loop: each delivery could cause
 * events that cause deliveries): a host that resolves to an address of this machine
 * (loopback, unspecified or one of its interfaces) on a port this server listens on.
 * With private addresses allowed, other local services, such as a receiver on another
 * loopback port, are allowed.
 */
import net from 'node:net';
import os from 'node:os';
import { AppError } from '../errors.js';
import { addressesOf, isPublicAddress } from '../net/outbound.js';

/** What a webhook target may reach. */
export interface WebhookTargetRules {
  /** The TCP ports this server listens on. */
  readonly selfPorts: readonly number[];
  /**
   * Whether to refuse a host that resolves to a private, loopback or link-local address
   * (when an endpoint is saved and private addresses are not allowed; a delivery leaves it
   * to its connection, which net/outbound.ts checks, and resolves nothing twice).
   */
  readonly refusePrivate: boolean;
}

/** Whether `address` (IPv4 or IPv6 text) belongs to this machine. */
export function isLocalAddress(address: string): boolean {
  const a = address.toLowerCase().replace(/^::ffff:/, '');
  if (net.isIPv4(a) && (a.startsWith('127.') || a === '0.0.0.0')) return true;
  if (a === '::1' || a === '::') return true;
  return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.address.toLowerCase() === a));
}

/**
 * Checks a webhook target.
 *
 * @throws AppError `validation_failed` (not an http(s) URL, or credentials in it),
 *   `webhook_target_refused` (it reaches a non-public address while those are not
 *   allowed, or this server's own listeners).
 */
export async function assertWebhookTarget(url: string, rules: WebhookTargetRules): Promise<URL> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError('validation_failed', 'url is not an absolute URL.', { param: 'url' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new AppError('validation_failed', 'url must use http or https.', { param: 'url' });
  }
  if (u.username || u.password) {
    throw new AppError('validation_failed', 'url must not carry credentials; deliveries are signed instead.', { param: 'url' });
  }
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const self = rules.selfPorts.includes(port);
  if (!self && !rules.refusePrivate) return u;
  const addresses = await addressesOf(u.hostname); // [] when it does not resolve now: each delivery checks again
  if (rules.refusePrivate && addresses.some((a) => !isPublicAddress(a))) {
    throw new AppError('webhook_target_refused', 'url reaches a private or reserved address.', {
      param: 'url',
      fix: 'Point the endpoint at a public address. If the receiver is on your own network on purpose, the server\'s operator can allow private addresses (OUTBOUND_ALLOW_PRIVATE).',
    });
  }
  if (self && addresses.some(isLocalAddress)) {
    throw new AppError('webhook_target_refused', `url reaches this server's own listener on port ${port}.`, { param: 'url' });
  }
  return u;
}
