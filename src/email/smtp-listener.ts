/**
 * The inbound SMTP listener (RFC 5321) on the `smtp-server` package.
 *
 * It accepts mail only for known mailboxes (any other recipient gets 550, so it is
 * never an open relay), advertises and enforces SIZE (RFC 1870; too large → 552),
 * authenticates each message (SPF for the client's IP and envelope, DKIM, DMARC, ARC)
 * and answers 250 only after the message is committed to the store; 550 5.7.1 when
 * every recipient's mailbox refuses it as spoofed (`inbound_policy: reject`).
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { receiveEmail, type ThreadingPolicy } from '../services/ingest-email.js';
import type { Clock } from '../clock.js';
import { routeRecipient, type MailboxRoute } from '../store/identities.js';
import type { DnsResolver } from './authentication.js';
import type { Store } from '../store/store.js';

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
  /**
   * The certificate (chain) and key STARTTLS presents (RFC 3207), as {@link readTlsFiles}
   * read them; unset or null: STARTTLS is not offered.
   */
  readonly tls?: TlsFiles | null;
  /** Refuse MAIL FROM before STARTTLS (`530 5.7.0`), `SMTP_REQUIRE_TLS`; needs `tls`. */
  readonly requireTls?: boolean;
}

export interface SmtpListener {
  /** The bound port. */
  readonly port: number;
  close(): Promise<void>;
}

class SmtpReply extends Error {
  constructor(readonly responseCode: number, message: string) { super(message); }
}

/** Mailboxes accepted for this session's RCPT TO (one per identity), keyed by session id. */
type Accepted = Map<string, MailboxRoute[]>;

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
  const tlsFiles = config.tls ?? null;
  const requireTls = tlsFiles !== null && config.requireTls === true;
  const server = new SMTPServer({
    name: config.serverName,
    banner: 'Switchboard ESMTP',
    size: config.maxMessageBytes,
    authOptional: true,
    ...(tlsFiles ? { cert: tlsFiles.cert, key: tlsFiles.key } : {}),
    disabledCommands: tlsFiles ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    logger: false,
    onConnect(session, callback) {
      accepted.set(session.id, []);
      callback();
    },
    onClose(session) {
      accepted.delete(session.id);
    },
    onMailFrom(_address, session, callback) {
      if (requireTls && !session.secure) return callback(new SmtpReply(530, '5.7.0 Must issue a STARTTLS command first'));
      accepted.set(session.id, []);
      callback();
    },
    onRcptTo(address, session, callback) {
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
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
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
        receiveEmail(store, config.policy, routes, Buffer.concat(chunks), arrival, { resolver: config.resolver, serverName: config.serverName, clock: config.clock }).then((outcomes) => {
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
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
