/**
 * The running server: the store, the HTTP API and the SMTP listener, wired from one
 * {@link Config}.
 */
import pino, { type Logger } from 'pino';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { buildApp, overloaded, OVERLOADED_RETRY_AFTER_S, type Api } from './api/app.js';
import type { Config } from './config.js';
import { toProblem } from './errors.js';
import { systemResolver, type DnsResolver } from './email/authentication.js';
import { readTlsFiles, startSmtpListener, type SmtpListener } from './email/smtp-listener.js';
import { ParsePool } from './email/parse-pool.js';
import type { MessageParser } from './services/receive-email.js';
import { systemClock, type Clock } from './clock.js';
import { startSweeper, type Sweeper } from './services/sweeper.js';
import { setUpOrganization } from './services/organization-setup.js';
import { fireDueTimers } from './services/timers.js';
import { deliverQueued, type OutboundWorkerOptions } from './services/outbound-queue.js';
import { runWebhooks, type WebhookWorkerOptions } from './services/webhook-delivery.js';
import { groupCommitter } from './store/group-commit.js';
import { openStore } from './store/open.js';
import { Metrics } from './observability/metrics.js';
import type { Store } from './store/store.js';

export interface RunningServer {
  readonly store: Store;
  readonly app: Api;
  /** Bound ports (useful when 0 was asked for). */
  readonly port: number;
  readonly smtpPort: number;
  /** Set when this start created the store's first organization: its key, shown once. */
  readonly firstRun: { readonly orgId: string; readonly apiKey: string } | null;
  /** The timer sweeper (tests kick it after moving a manual clock). */
  readonly timers: Sweeper;
  /** The webhook dispatch and delivery loop. */
  readonly webhooks: Sweeper;
  /** The outbound email queue's worker (services/outbound-queue.ts). */
  readonly outbound: Sweeper;
  /**
   * Shuts down within `shutdownTimeoutMs`: `/readyz` answers 503, the listeners stop
   * accepting, live streams get their final `shutdown` event, idle SMTP sessions `421`,
   * requests and messages in flight finish, then the store closes. Whatever is still open
   * at the deadline is cut. Calling it again returns the same promise.
   */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Time source of sends, SLA deadlines and timers; the system clock by default. */
  readonly clock?: Clock;
  /** DNS of inbound mail authentication; the system's by default. */
  readonly resolver?: DnsResolver;
}

/** Query parameters that carry secrets (a BlueBubbles webhook token, a media URL signature): never logged. */
const SECRET_QUERY = /([?&](?:token|signature|password)=)[^&#]*/gi;

/** A request URL as it may be logged: secret query values replaced by `[redacted]`. */
export function loggableUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1[redacted]');
}

/**
 * The server's pino logger. Requests are logged as method, URL (secrets in its query
 * redacted), host and remote address, never headers (API keys, signatures).
 */
export function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    serializers: {
      req: (req: { method?: string; url?: string; host?: string; ip?: string }) => ({
        method: req.method, url: req.url === undefined ? undefined : loggableUrl(req.url), host: req.host, remoteAddress: req.ip,
      }),
    },
  });
}

/**
 * Opens the store, creates the first organization when the store has none, and starts
 * both listeners. `GET /readyz` answers 200 once both accept connections.
 */
export async function startServer(config: Config, log: Logger = createLogger(config), options: StartOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const resolver = options.resolver ?? systemResolver(undefined, config.dnsServers);
  // Before the store: a bad certificate must stop a first start before it creates the organization.
  const tls = readTlsFiles({ tlsCertFile: config.smtpTlsCert, tlsKeyFile: config.smtpTlsKey, requireTls: config.smtpRequireTls });
  // One set of metrics for the whole server: the store's queries, the API, SMTP and the workers.
  const metrics = new Metrics();
  const store = await openStore(config, { onQuery: metrics.observeQuery });
  // Every ingest path (SMTP, HTTP inbound, channel webhooks) shares this store's batches.
  groupCommitter(store, config.ingestBatchMax, config.ingestBatchWaitMs);
  // A first start sets the store up as `init` does (organization, first key, owner member).
  const setUp = await setUpOrganization(store, { name: 'default' });
  const firstRun: RunningServer['firstRun'] = setUp.apiKey && { orgId: setUp.organization.id, apiKey: setUp.apiKey.key };
  let ready = false;
  // Live mail is parsed off the event loop, each message within PARSE_TIMEOUT_MS.
  const pool = config.parseThreads > 0 && ParsePool.available() ? new ParsePool({ threads: config.parseThreads, heapMb: PARSE_WORKER_HEAP_MB }) : null;
  const parse: MessageParser | undefined = pool ? (raw) => pool.parseWithin(raw, config.parseTimeoutMs) : undefined;
  let smtp: SmtpListener | undefined;
  let httpPort = config.port;
  const listenerPorts = () => [httpPort, smtp?.port ?? config.smtpPort].filter((p) => p > 0);
  const app = await buildApp({ store, config, logger: log, isReady: () => ready, clock, listenerPorts, resolver, parse, metrics });
  let timers: Sweeper | undefined;
  let webhooks: Sweeper | undefined;
  let outbound: Sweeper | undefined;
  let stopKicking = () => {};
  const stopping = new AbortController();
  capConnections(app, config.httpMaxConnections, log);
  try {
    await app.listen({ host: config.host, port: config.port });
    const bound = app.server.address();
    if (typeof bound === 'object' && bound) httpPort = bound.port;
    smtp = await startSmtpListener(store, {
      host: config.smtpHost, port: config.smtpPort, serverName: config.serverName,
      maxMessageBytes: config.maxMessageBytes, policy: config, clock, resolver, parse,
      tls, requireTls: config.smtpRequireTls,
      maxRecipients: config.smtpMaxRecipients, maxConnections: config.smtpMaxConnections, maxConnectionsPerIp: config.smtpMaxConnectionsPerIp,
      idleTimeoutMs: config.smtpIdleTimeoutMs, sessionTimeoutMs: config.smtpSessionTimeoutMs, metrics,
    }, log.child({ component: 'smtp' }));
    timers = startSweeper('timer sweep', config.sweepIntervalMs, log.child({ component: 'timers' }), () => fireDueTimers(store, clock));
    const worker: WebhookWorkerOptions = { clock, timeoutMs: config.webhookTimeoutMs, disableAfterMs: config.webhookDisableAfterMs, selfPorts: listenerPorts,
      outboundAllowPrivate: config.outboundAllowPrivate, signal: stopping.signal, metrics };
    const w = startSweeper('webhook delivery', config.sweepIntervalMs, log.child({ component: 'webhooks' }), () => runWebhooks(store, worker));
    webhooks = w;
    const outboundWorker: OutboundWorkerOptions = { clock, lifetimeMs: config.outboundLifetimeMs, metrics };
    const o = startSweeper('outbound delivery', config.sweepIntervalMs, log.child({ component: 'outbound' }), () => deliverQueued(store, outboundWorker));
    outbound = o;
    // A commit may have queued mail or made a webhook delivery due: both workers look at once.
    stopKicking = store.commits.onAnyCommit(() => { w.kick(); o.kick(); });
  } catch (err) {
    await app.close();
    await pool?.close();
    await store.close();
    throw err;
  }
  ready = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const listener = smtp;
  let closing: Promise<void> | undefined;
  const shutdown = async () => {
    ready = false;
    stopKicking();
    // Webhook deliveries start nothing more; those in flight end within their timeout.
    stopping.abort();
    // The listeners get the budget less a tenth (at most 1 s), kept for closing the store.
    const deadline = Date.now() + config.shutdownTimeoutMs;
    const listenersDeadline = deadline - Math.min(1_000, Math.floor(config.shutdownTimeoutMs / 10));
    const left = (until = listenersDeadline) => Math.max(0, until - Date.now());
    // At the deadline, connections still open (a request or stream that has not ended) are cut.
    const cut = setTimeout(() => {
      log.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown deadline reached: closing the HTTP connections still open');
      app.server.closeAllConnections();
    }, left());
    await Promise.all([
      app.close(),
      listener.close(left()),
      within(left(), Promise.all([timers?.stop(), webhooks?.stop(), outbound?.stop()])),
    ]);
    clearTimeout(cut);
    await within(left(deadline), pool?.close() ?? Promise.resolve());
    // The store last: a sweeper or request still running when the deadline passed fails on it.
    if (!(await within(left(deadline), store.close()))) log.warn('the store did not close in time');
  };
  return {
    store, app, port, smtpPort: smtp.port, firstRun,
    timers,
    webhooks,
    outbound,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}

/**
 * Old-generation heap of a live-mail parse worker, MiB. Attachments are Buffers, outside
 * it: a 25 MB message with an 18 MB attachment parses in 0.4 s. A parse that needs more
 * (100,000 MIME parts) ends the worker, which frees what it held, and the message is kept
 * as its headers and text; a larger heap would stay grown after such a parse (about
 * 100 MiB more at 128).
 */
const PARSE_WORKER_HEAP_MB = 64;

/** Whether `work` settled within `ms` (it goes on regardless). */
async function within(ms: number, work: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([work.then(() => true, () => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Caps the HTTP listener at `max` open connections (`HTTP_MAX_CONNECTIONS`; live streams
 * count). A connection past the cap is served one answer, `503 not_ready` with
 * `Retry-After` and `Connection: close`, before any hook runs (`GET /healthz` is answered
 * as usual), and must send its request within 5 s. Past the cap by a tenth more (at least
 * 64), Node refuses connections outright (`server.maxConnections`, no answer), so a flood
 * cannot take every file descriptor while waiting for its 503.
 */
export function capConnections(app: Api, max: number, log: Logger): void {
  let open = 0;
  const overCap = new WeakSet<object>();
  app.server.maxConnections = max + Math.max(64, Math.ceil(max / 10));
  app.server.on('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => { open--; });
    if (open <= max) return;
    overCap.add(socket);
    socket.setTimeout(5_000);
  });
  let dropsLogged = 0;
  app.server.on('drop', () => {
    if (Date.now() - dropsLogged < 10_000) return; // once in 10 s, not once per connection of a flood
    dropsLogged = Date.now();
    log.warn({ max: app.server.maxConnections }, 'http connections refused: too many open connections');
  });
  // Ahead of Fastify's request listener (and so of every hook, auth included): the cheapest answer.
  const body = JSON.stringify(toProblem(overloaded(`${max} open connections`)));
  const [handle] = app.server.listeners('request') as RequestListener[];
  app.server.removeAllListeners('request');
  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!overCap.has(req.socket) || req.url === '/healthz') return handle!(req, res);
    res.writeHead(503, {
      'content-type': 'application/problem+json; charset=utf-8', 'content-length': Buffer.byteLength(body),
      'retry-after': String(OVERLOADED_RETRY_AFTER_S), connection: 'close',
    });
    res.end(body);
  });
}
