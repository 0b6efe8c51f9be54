/**
 * The inbound SMTP listener (RFC 5321) on the `smtp-server` package.
 *
 * It accepts mail only for known mailboxes (any other recipient gets 550, so it is
 * never an open relay), advertises and enforces SIZE (RFC 1870; too large → 552),
 * authenticates each message (SPF for the client's IP and envelope, DKIM, DMARC, ARC)
 * and answers 250 only after the message is committed to the store; 550 5.7.1 when
 * every recipient's mailbox refuses it as spoofed (`inbound_policy: reject`).
 *
 * Limits, after Postfix's: recipients per message (`452 4.5.3` past them), connections in
 * all and per client IP (`421` at connect), an idle timeout and a session time limit
 * (`421`), and ten unknown commands (`421`, smtp-server's fixed limit). A message over the
 * size limit sent without `SIZE=` is read to its end, slowly (about 1.3 MB/s past the limit), and discarded, never kept, then `552`.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { ThreadingPolicy } from '../services/ingest-email.js';
import { receiveEmail, type MessageParser } from '../services/receive-email.js';
import type { Clock } from '../clock.js';
import { routeRecipient, type MailboxRoute } from '../store/identities.js';
import type { DnsResolver } from './authentication.js';
import type { Store } from '../store/store.js';
import { statusClass, type Metrics } from '../observability/metrics.js';

export interface SmtpListenerConfig {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly serverName: string;
  /** Largest message, bytes. */
  readonly maxMessageBytes: number;
  readonly policy: ThreadingPolicy;
  /** Time source of SLA deadlines; the system clock by default. */
  readonly clock?: Clock;
  /** DNS of SPF, DKIM and DMARC checks. */
  readonly resolver: DnsResolver;
  /** Parses each message (off the event loop); in process when unset. */
  readonly parse?: MessageParser;
  /**
   * The certificate (chain) and key STARTTLS presents (RFC 3207), as {@link readTlsFiles}
   * read them; unset or null: STARTTLS is not offered.
   */
  readonly tls?: TlsFiles | null;
  /** Refuse MAIL FROM before STARTTLS (`530 5.7.0`), `SMTP_REQUIRE_TLS`; needs `tls`. */
  readonly requireTls?: boolean;
  /** Most recipients of one message (`452 4.5.3` past it); unlimited when unset. */
  readonly maxRecipients?: number;
  /** Most open connections in all (`421` past it); unlimited when unset. */
  readonly maxConnections?: number;
  /** Most open connections from one client IP (`421 4.7.0` past it); unlimited when unset. */
  readonly maxConnectionsPerIp?: number;
  /** A client the server waits on this long gets `421` and is disconnected, ms; 60 s when unset. */
  readonly idleTimeoutMs?: number;
  /** Longest session (`421 4.4.2` past it), ms; unlimited when unset. */
  readonly sessionTimeoutMs?: number;
  /** Counts sessions, recipients, messages and what was ingested (`switchboard_smtp_*`); nothing when unset. */
  readonly metrics?: Metrics;
}

export interface SmtpListener {
  /** The bound port. */
  readonly port: number;
  /**
   * Stops accepting connections. Sessions waiting for a command get `421 4.3.2` now; a
   * message being received or stored is answered first, then the next command gets `421`.
   * Resolves once every session has ended, or after `timeoutMs` (30 s by default), when
   * what is left is sent `421` and closed.
   */
  close(timeoutMs?: number): Promise<void>;
}

class SmtpReply extends Error {
  constructor(readonly responseCode: number, message: string) { super(message); }
}

/** Counts an SMTP reply: `accepted` below 400, `refused` from it, with its class (`2xx`, `4xx`, `5xx`). */
function countReply(counter: Metrics['smtpMessages'] | undefined, code: number): void {
  counter?.inc({ result: code < 400 ? 'accepted' : 'refused', reply_class: statusClass(code) });
}

/**
 * How fast the rest of an oversized message is read and discarded: a pause of
 * `DRAIN_PAUSE_MS` after each `DRAIN_SLICE_BYTES`, about 1.3 MB/s per session.
 */
const DRAIN_SLICE_BYTES = 64 * 1024;
const DRAIN_PAUSE_MS = 50;

/** Mailboxes accepted for this session's RCPT TO (one per identity), keyed by session id. */
type Accepted = Map<string, MailboxRoute[]>;

/** What the listener needs of smtp-server's connection objects (`SMTPServer#connections`). */
interface SmtpConnection {
  readonly id: string;
  /** Writes a reply; a 421 also closes the connection. */
  send(code: number, message: string): void;
}

/**
 * The chunks of a message as it arrives, kept only while they add up to at most
 * `maxBytes`. Past it, the chunks kept so far are let go and later ones are dropped, so a
 * message sent over the limit without `SIZE=` (RFC 1870) is read to its end, for the `552`
 * that follows it, without ever holding more than the limit.
 */
export interface MessageChunks {
  /** The chunks kept: every one so far, or none once over the limit. */
  readonly chunks: Buffer[];
  /** Bytes seen, kept or not. */
  readonly bytes: number;
  /** Whether more than `maxBytes` arrived. */
  readonly exceeded: boolean;
  /** Takes the next chunk (a `data` listener). */
  readonly push: (chunk: Buffer) => void;
}

/** Collects a message's chunks up to `maxBytes` (see {@link MessageChunks}). */
export function collectChunks(maxBytes: number): MessageChunks {
  const chunks: Buffer[] = [];
  let bytes = 0;
  return {
    chunks,
    get bytes() { return bytes; },
    get exceeded() { return bytes > maxBytes; },
    push(chunk: Buffer) {
      bytes += chunk.length;
      if (bytes <= maxBytes) chunks.push(chunk);
      else if (chunks.length > 0) chunks.length = 0;
    },
  };
}

/** A PEM certificate (chain) and its private key. */
export interface TlsFiles { readonly cert: Buffer; readonly key: Buffer }

/**
 * The certificate and key STARTTLS presents, read from their PEM files and checked to
 * make a TLS context together; null when no certificate is configured. The server reads
 * them before it opens the store, so a bad file stops a first start before it creates
 * the organization (whose key would otherwise be printed by no one).
 *
 * @throws Error naming the setting (`SMTP_TLS_CERT`, `SMTP_TLS_KEY`) whose file cannot be
 *   read, or both when they do not make a certificate and its key; also when TLS is
 *   required without a certificate.
 */
export function readTlsFiles(config: { readonly tlsCertFile: string | null; readonly tlsKeyFile: string | null; readonly requireTls: boolean }): TlsFiles | null {
  if (!config.tlsCertFile || !config.tlsKeyFile) {
    if (config.tlsCertFile || config.tlsKeyFile) throw new Error('SMTP_TLS_CERT and SMTP_TLS_KEY go together: set both or neither');
    if (config.requireTls) throw new Error('SMTP_REQUIRE_TLS needs SMTP_TLS_CERT and SMTP_TLS_KEY');
    return null;
  }
  const read = (file: string, setting: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new Error(`${setting}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const cert = read(config.tlsCertFile, 'SMTP_TLS_CERT');
  const key = read(config.tlsKeyFile, 'SMTP_TLS_KEY');
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`SMTP_TLS_CERT (${config.tlsCertFile}) and SMTP_TLS_KEY (${config.tlsKeyFile}) are not a PEM certificate and its private key: ${(err as Error).message}`);
  }
  return { cert, key };
}

/**
 * Starts listening. With a certificate (`tls`) the listener offers
 * STARTTLS (RFC 3207); with `requireTls` too, MAIL FROM on a session that has not
 * upgraded gets `530 5.7.0 Must issue a STARTTLS command first`.
 *
 * @throws Error when the port cannot be bound.
 */
export async function startSmtpListener(store: Store, config: SmtpListenerConfig, log: Logger): Promise<SmtpListener> {
  const accepted: Accepted = new Map();
  const { metrics } = config;
  const tlsFiles = config.tls ?? null;
  const requireTls = tlsFiles !== null && config.requireTls === true;
  const maxRecipients = config.maxRecipients ?? Infinity;
  const maxPerIp = config.maxConnectionsPerIp ?? Infinity;
  /** Open sessions' client IPs (by session id), and how many sessions each IP has. */
  const clientIps = new Map<string, string>();
  const perIp = new Map<string, number>();
  /** Session-time limits by session id. */
  const deadlines = new Map<string, NodeJS.Timeout>();
  /**
   * Sessions in DATA, by id: `receiving` the message, or `storing` it (received in full,
   * the reply waits for the store). Neither is cut by shutdown; `storing` is not cut by
   * the session time limit either (the client waits for our reply).
   */
  const inData = new Map<string, 'receiving' | 'storing'>();
  let closing = false;
  const server = new SMTPServer({
    name: config.serverName,
    banner: 'Switchboard ESMTP',
    size: config.maxMessageBytes,
    authOptional: true,
    ...(tlsFiles ? { cert: tlsFiles.cert, key: tlsFiles.key } : {}),
    disabledCommands: tlsFiles ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    logger: false,
    ...(config.maxConnections !== undefined ? { maxClients: config.maxConnections } : {}),
    ...(config.idleTimeoutMs !== undefined ? { socketTimeout: config.idleTimeoutMs } : {}),
    onConnect(session, callback) {
      const ip = session.remoteAddress;
      const fromIp = perIp.get(ip) ?? 0;
      if (fromIp >= maxPerIp) {
        log.warn({ clientIp: ip, connections: fromIp }, 'smtp connection refused: too many from this address');
        metrics?.smtpSessions.inc({ result: 'refused' });
        return callback(new SmtpReply(421, `4.7.0 too many connections from ${ip}, try again later`));
      }
      metrics?.smtpSessions.inc({ result: 'opened' });
      perIp.set(ip, fromIp + 1);
      clientIps.set(session.id, ip);
      if (config.sessionTimeoutMs !== undefined) deadlines.set(session.id, setTimeout(() => expire(session.id), config.sessionTimeoutMs).unref());
      accepted.set(session.id, []);
      callback();
    },
    onClose(session) {
      accepted.delete(session.id);
      inData.delete(session.id);
      clearTimeout(deadlines.get(session.id));
      deadlines.delete(session.id);
      const ip = clientIps.get(session.id);
      if (ip === undefined) return; // refused at connect
      clientIps.delete(session.id);
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left > 0) perIp.set(ip, left);
      else perIp.delete(ip);
    },
    onMailFrom(_address, session, callback) {
      if (requireTls && !session.secure) {
        countReply(metrics?.smtpMessages, 530);
        return callback(new SmtpReply(530, '5.7.0 Must issue a STARTTLS command first'));
      }
      accepted.set(session.id, []);
      callback();
    },
    onRcptTo(address, session, done) {
      const callback = (err?: SmtpReply) => {
        countReply(metrics?.smtpRecipients, err?.responseCode ?? 250);
        done(err ?? null);
      };
      const { rcptTo } = session.envelope;
      if (rcptTo.length >= maxRecipients && !rcptTo.some((r) => r.address.toLowerCase() === address.address.toLowerCase())) {
        return callback(new SmtpReply(452, '4.5.3 Too many recipients'));
      }
      routeRecipient(store.db, address.address).then((route) => {
        if (!route) return callback(new SmtpReply(550, `5.1.1 <${address.address}>: no such mailbox here`));
        const list = accepted.get(session.id) ?? [];
        if (!list.some((r) => r.account.identity_id === route.account.identity_id)) list.push(route);
        accepted.set(session.id, list);
        callback();
      }, (err: Error) => {
        log.error({ err }, 'smtp recipient lookup failed');
        callback(new SmtpReply(451, '4.3.0 temporary failure, try again later'));
      });
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      // Past the size limit the rest is read and dropped (the client gets its 552 at the end),
      // slowly: a sender that ignored SIZE cannot have the server scan its bytes as fast as
      // it can send them (the stream's backpressure holds the socket while it is paused).
      const body = collectChunks(config.maxMessageBytes);
      let sinceLimit = 0;
      stream.on('data', (chunk: Buffer) => {
        body.push(chunk);
        if (!body.exceeded || (sinceLimit += chunk.length) < DRAIN_SLICE_BYTES) return;
        sinceLimit = 0;
        stream.pause();
        setTimeout(() => stream.resume(), DRAIN_PAUSE_MS).unref();
      });
      const { chunks } = body;
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          return callback(new SmtpReply(552, `5.3.4 message exceeds the ${config.maxMessageBytes} byte limit`));
        }
        const routes = accepted.get(session.id) ?? [];
        const arrival = {
          transport: 'smtp' as const, clientIp: session.remoteAddress ?? null, helo: session.hostNameAppearsAs || null,
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address || null : null,
        };
        receiveEmail(store, config.policy, routes, Buffer.concat(chunks), arrival, {
          resolver: config.resolver, serverName: config.serverName, clock: config.clock, parse: config.parse, metrics,
        }).then((outcomes) => {
          log.info({ recipients: outcomes.length, outcomes: outcomes.map((o) => o.status) }, 'smtp message committed');
          const refused = outcomes.filter((o) => o.status === 'rejected');
          if (outcomes.length > 0 && refused.length === outcomes.length) {
            return callback(new SmtpReply(550, `5.7.1 message refused: ${refused[0]!.reason}`));
          }
          callback(null, 'Message committed');
        }, (err: Error) => {
          log.error({ err }, 'smtp message could not be stored');
          callback(new SmtpReply(451, '4.3.0 could not store the message, try again later'));
        });
      });
    },
  });
  const connections = () => (server as unknown as { connections: Set<SmtpConnection> }).connections;
  const connection = (id: string) => [...connections()].find((c) => c.id === id);
  /** The session time limit: 421, unless the client waits for our reply to its message. */
  const expire = (id: string) => {
    deadlines.delete(id);
    if (inData.get(id) === 'storing') {
      deadlines.set(id, setTimeout(() => expire(id), 1_000).unref());
      return;
    }
    log.info({ session: id }, 'smtp session time limit reached');
    connection(id)?.send(421, '4.4.2 session time limit reached, closing connection');
  };
  // smtp-server refuses a connection past maxClients itself (421 as it adds the connection,
  // before onConnect): counted here.
  const connecting = server as unknown as { connect(socket: unknown, options: unknown): void };
  const connect = connecting.connect.bind(server);
  connecting.connect = (socket, options) => {
    if (config.maxConnections !== undefined && connections().size >= config.maxConnections) metrics?.smtpSessions.inc({ result: 'refused' });
    connect(socket, options);
  };
  // Wraps the message handler to know which sessions are in DATA (see `inData`).
  const handleData = server.onData.bind(server);
  server.onData = (stream, session, callback) => {
    inData.set(session.id, 'receiving');
    stream.once('end', () => { if (inData.has(session.id)) inData.set(session.id, 'storing'); });
    handleData(stream, session, (err, message) => {
      inData.delete(session.id);
      // smtp-server answers an error without a code 450.
      countReply(metrics?.smtpMessages, err ? (err as Partial<SmtpReply>).responseCode ?? 450 : 250);
      callback(err, message);
      if (closing) connection(session.id)?.send(421, '4.3.2 server shutting down, try again later');
    });
  };
  server.on('error', (err) => log.error({ err }, 'smtp server error'));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.server.once('error', onError);
    server.listen(config.port, config.host, () => {
      server.server.off('error', onError);
      resolve();
    });
  });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  return {
    port,
    close: (timeoutMs = 30_000) => new Promise<void>((resolve) => {
      closing = true;
      for (const timer of deadlines.values()) clearTimeout(timer);
      // smtp-server reads it when closing: at this deadline what is left gets 421 and is closed.
      server.options.closeTimeout = Math.max(1, timeoutMs);
      server.close(() => resolve());
      for (const c of connections()) {
        if (!inData.has(c.id)) c.send(421, '4.3.2 server shutting down, try again later');
      }
    }),
  };
}
