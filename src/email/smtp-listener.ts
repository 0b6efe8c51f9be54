/**
 * The inbound SMTP listener (RFC 5321) on the `smtp-server` package.
 *
 * It accepts mail only for known mailboxes (any other recipient gets 550, so it is
 * never an open relay), advertises and enforces SIZE (RFC 1870; too large → 552), and
 * answers 250 only after the message is committed to the store.
 */
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { receiveEmail, type ThreadingPolicy } from '../services/ingest-email.js';
import type { Clock } from '../clock.js';
import { findAccountByAddress, type AccountRow } from '../store/identities.js';
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
}

export interface SmtpListener {
  /** The bound port. */
  readonly port: number;
  close(): Promise<void>;
}

class SmtpReply extends Error {
  constructor(readonly responseCode: number, message: string) { super(message); }
}

/** Mailboxes accepted for this session's RCPT TO, keyed by session id. */
type Accepted = Map<string, AccountRow[]>;

/**
 * Starts listening.
 *
 * @throws Error when the port cannot be bound.
 */
export async function startSmtpListener(store: Store, config: SmtpListenerConfig, log: Logger): Promise<SmtpListener> {
  const accepted: Accepted = new Map();
  const server = new SMTPServer({
    name: config.serverName,
    banner: 'Switchboard ESMTP',
    size: config.maxMessageBytes,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onConnect(session, callback) {
      accepted.set(session.id, []);
      callback();
    },
    onClose(session) {
      accepted.delete(session.id);
    },
    onMailFrom(_address, session, callback) {
      accepted.set(session.id, []);
      callback();
    },
    onRcptTo(address, session, callback) {
      findAccountByAddress(store.db, 'email', address.address).then((account) => {
        if (!account) return callback(new SmtpReply(550, `5.1.1 <${address.address}>: no such mailbox here`));
        const list = accepted.get(session.id) ?? [];
        if (!list.some((a) => a.identity_id === account.identity_id)) list.push(account);
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
        const accounts = accepted.get(session.id) ?? [];
        receiveEmail(store, config.policy, accounts, Buffer.concat(chunks), config.clock).then((outcomes) => {
          log.info({ recipients: outcomes.length, outcomes: outcomes.map((o) => o.status) }, 'smtp message committed');
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
