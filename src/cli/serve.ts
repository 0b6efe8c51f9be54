/**
 * `switchboard serve`: runs until SIGINT/SIGTERM, then shuts down within
 * `SHUTDOWN_TIMEOUT_MS` (RunningServer.close) and exits; a second signal exits at once.
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
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down');
    // close() keeps to the timeout; this only guards against something it cannot cut.
    setTimeout(() => {
      log.error('shutdown overran its timeout: exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5_000).unref();
    await server.close();
    log.info('shut down');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
