/**
 * The running server: the store, the HTTP API and the SMTP listener, wired from one
 * {@link Config}.
 */
import pino, { type Logger } from 'pino';
import { buildApp, type Api } from './api/app.js';
import type { Config } from './config.js';
import { startSmtpListener, type SmtpListener } from './email/smtp-listener.js';
import { createFirstOrganization } from './services/tenants.js';
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
  close(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel });
}

/**
 * Opens the store, creates the first organization when the store has none, and starts
 * both listeners. `GET /readyz` answers 200 once both accept connections.
 */
export async function startServer(config: Config, log: Logger = createLogger(config)): Promise<RunningServer> {
  const store = await openStore(config);
  const created = await createFirstOrganization(store, 'default');
  const firstRun: RunningServer['firstRun'] = created && { orgId: created.orgId, apiKey: created.apiKey.key };
  let ready = false;
  const app = await buildApp({ store, config, logger: log, isReady: () => ready });
  let smtp: SmtpListener | undefined;
  try {
    await app.listen({ host: config.host, port: config.port });
    smtp = await startSmtpListener(store, {
      host: config.smtpHost, port: config.smtpPort, serverName: config.serverName,
      maxMessageBytes: config.maxMessageBytes, policy: config,
    }, log.child({ component: 'smtp' }));
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
    async close() {
      ready = false;
      await smtp?.close();
      await app.close();
      await store.close();
    },
  };
}
