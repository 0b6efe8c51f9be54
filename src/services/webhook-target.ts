/**
 * Refuses webhook URLs that point back at this server's own listeners (a delivery to
 * itself would loop: each delivery could cause events that cause deliveries). A URL is
 * refused when its host resolves to an address of this machine (loopback, unspecified
 * or one of its interfaces) and its port is one this server listens on. Other local
 * services, such as a receiver on another loopback port, are allowed.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';
import { AppError } from '../errors.js';

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
 * @param ports the TCP ports this server listens on.
 * @throws AppError `validation_failed` (not an http(s) URL, or credentials in it),
 *   `webhook_target_refused` (it reaches this server's own listeners).
 */
export async function assertWebhookTarget(url: string, ports: readonly number[]): Promise<URL> {
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
  if (!ports.includes(port)) return u;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = net.isIP(host) ? [host] : (await dns.lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return u; // unresolvable now: each delivery checks again
  }
  if (addresses.some(isLocalAddress)) {
    throw new AppError('webhook_target_refused', `url reaches this server's own listener on port ${port}.`, { param: 'url' });
  }
  return u;
}
