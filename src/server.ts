/**
 * The running server: the store, the HTTP API and the SMTP listener, wired from one
 * {@link Config}.
 */
import pino, { type Logger } from 'pino';
import { buildApp, type Api } from './api/app.js';
import type { Config } from './config.js';
import { systemResolver, type DnsResolver } from './email/authentication.js';
import { readTlsFiles, startSmtpListener, type SmtpListener } from './email/smtp-listener.js';
import { systemClock, type Clock } from './clock.js';
import { startSweeper, type Sweeper } from './services/sweeper.js';
import { createFirstOrganization } from './services/tenants.js';
import { fireDueTimers } from './services/timers.js';
import { deliverQueued, type OutboundWorkerOptions } from './services/outbound-queue.js';
import { runWebhooks, type WebhookWorkerOptions } from './services/webhook-delivery.js';
import { openStore } from './store/open.js';
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
  const resolver = options.resolver ?? systemResolver();
  // Before the store: a bad certificate must stop a first start before it creates the organization.
  const tls = readTlsFiles({ tlsCertFile: config.smtpTlsCert, tlsKeyFile: config.smtpTlsKey, requireTls: config.smtpRequireTls });
  const store = await openStore(config);
  const created = await createFirstOrganization(store, 'default');
  const firstRun: RunningServer['firstRun'] = created && { orgId: created.orgId, apiKey: created.apiKey.key };
  let ready = false;
  let smtp: SmtpListener | undefined;
  let httpPort = config.port;
  const listenerPorts = () => [httpPort, smtp?.port ?? config.smtpPort].filter((p) => p > 0);
  const app = await buildApp({ store, config, logger: log, isReady: () => ready, clock, listenerPorts, resolver });
  let timers: Sweeper | undefined;
  let webhooks: Sweeper | undefined;
  let outbound: Sweeper | undefined;
  let stopKicking = () => {};
  try {
    await app.listen({ host: config.host, port: config.port });
    const bound = app.server.address();
    if (typeof bound === 'object' && bound) httpPort = bound.port;
    smtp = await startSmtpListener(store, {
      host: config.smtpHost, port: config.smtpPort, serverName: config.serverName,
      maxMessageBytes: config.maxMessageBytes, policy: config, clock, resolver,
      tls, requireTls: config.smtpRequireTls,
    }, log.child({ component: 'smtp' }));
    timers = startSweeper('timer sweep', config.sweepIntervalMs, log.child({ component: 'timers' }), () => fireDueTimers(store, clock));
    const worker: WebhookWorkerOptions = { clock, timeoutMs: config.webhookTimeoutMs, disableAfterMs: config.webhookDisableAfterMs, selfPorts: listenerPorts,
      outboundAllowPrivate: config.outboundAllowPrivate };
    const w = startSweeper('webhook delivery', config.sweepIntervalMs, log.child({ component: 'webhooks' }), () => runWebhooks(store, worker));
    webhooks = w;
    const outboundWorker: OutboundWorkerOptions = { clock, lifetimeMs: config.outboundLifetimeMs };
    const o = startSweeper('outbound delivery', config.sweepIntervalMs, log.child({ component: 'outbound' }), () => deliverQueued(store, outboundWorker));
    outbound = o;
    // A commit may have queued mail or made a webhook delivery due: both workers look at once.
    stopKicking = store.commits.onAnyCommit(() => { w.kick(); o.kick(); });
  } catch (err) {
    await app.close();
    await store.close();
    throw err;
  }
  ready = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  return {
    store, app, port, smtpPort: smtp.port, firstRun,
    timers,
    webhooks,
    outbound,
    async close() {
      ready = false;
      stopKicking();
      await timers?.stop();
      await webhooks?.stop();
      await outbound?.stop();
      await smtp?.close();
      await app.close();
      await store.close();
    },
  };
}
