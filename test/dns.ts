/**
 * DNS served by the test, for inbound mail authentication (SPF, DKIM, DMARC) without a
 * network: `zone({ 'example.com': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] } })`.
 */
import type { DnsResolver } from '../src/email/authentication.js';

/** Records by name and type; a TXT record is a string (or its chunks, as DNS returns them). */
export type Zone = Record<string, Partial<Record<string, (string | string[])[]>>>;

/**
 * A resolver answering from `records`, as `dns.promises.resolve` would: TXT records as
 * arrays of chunks, an unknown name `ENOTFOUND`, a known name without the type `ENODATA`.
 */
export function zone(records: Zone = {}): DnsResolver & { readonly asked: string[] } {
  const asked: string[] = [];
  const resolve = async (name: string, rrtype: string) => {
    asked.push(`${rrtype} ${name}`);
    const byType = records[name.toLowerCase().replace(/\.$/, '')];
    const fail = (code: string) => Object.assign(new Error(`query${rrtype} ${code} ${name}`), { code });
    if (!byType) throw fail('ENOTFOUND');
    const found = byType[rrtype];
    if (!found?.length) throw fail('ENODATA');
    return (rrtype === 'TXT' ? found.map((r) => (Array.isArray(r) ? r : [r])) : found) as string[][] | string[];
  };
  return Object.assign(resolve, { asked });
}
