/**
 * `switchboard serve`: runs until SIGINT/SIGTERM, then closes the listeners and store.
 */
import { storeLocation, type Config } from '../config.js';
import { createLogger, startServer } from '../server.js';

export async function runServe(config: Config): Promise<void> {
  const log = createLogger(config);
  const server = await startServer(config, log);
  if (server.firstRun) {
    process.stdout.write(
      `\nNew store in ${storeLocation(config)}: organization ${server.firstRun.orgId} created.\n` +
      `API key (shown once, keep it safe):\n\n  ${server.firstRun.apiKey}\n\n`,
    );
  }
  log.info({ http: server.port, smtp: server.smtpPort, store: storeLocation(config) }, 'switchboard listening');
  const stop = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}
