/**
 * A DNS server on loopback UDP for benchmarks (dns-packet encodes and decodes the wire
 * format, RFC 1035): answers TXT questions from `records` and every other question with
 * NXDOMAIN, at once, as a caching resolver next to the server would for the benchmark's
 * made-up domains. The server under test is pointed at it with `DNS_SERVERS`, so its mail
 * authentication lookups measure the server, not this machine's DNS (which here drops
 * a query now and then and answers it a second later).
 */
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

/**
 * Starts the responder.
 *
 * @param records TXT records by lower-case name: `{ 'example.test': ['v=spf1 -all'] }`.
 * @returns `{ address: 'IP:port' (for DNS_SERVERS), queries(): number, close() }`.
 */
export async function startDnsResponder(records = {}) {
  const socket = dgram.createSocket('udp4');
  let queries = 0;
  socket.on('message', (message, peer) => {
    let query;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return; // not a DNS message
    }
    queries++;
    const question = query.questions?.[0];
    const txt = question?.type === 'TXT' ? records[question.name.toLowerCase()] : undefined;
    const answer = dnsPacket.encode({
      type: 'response', id: query.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (txt ? 0 : 3 /* NXDOMAIN */),
      questions: query.questions,
      answers: txt ? txt.map((data) => ({ type: 'TXT', name: question.name, ttl: 300, data })) : [],
    });
    socket.send(answer, peer.port, peer.address);
  });
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  return {
    address: `127.0.0.1:${port}`,
    queries: () => queries,
    close: () => new Promise((resolve) => socket.close(resolve)),
  };
}
