#!/usr/bin/env node
/**
 * The `switchboard` command line: `serve`, `init`, `import`.
 *
 * Output contract relied on by scripts:
 * - `init --json` prints `{"org_id", "api_key"}`;
 * - `import --json` prints `{"imported", "duplicates", "failed", "conversations", "seconds"}`.
 */
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, type ConfigOverrides } from '../config.js';
import { runImport } from './import.js';
import { runInit } from './init.js';
import { runServe } from './serve.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

const program = new Command()
  .name('switchboard')
  .description('Self-hosted conversations engine for AI agents')
  .showHelpAfterError();

program.command('serve')
  .description('run the HTTP API and the SMTP listener')
  .option('--data-dir <dir>', 'data directory (env DATA_DIR, default ./data)')
  .option('--port <n>', 'HTTP port (env PORT, default 8080)', port)
  .option('--smtp-port <n>', 'SMTP port (env SMTP_PORT, default 2525)', port)
  .option('--host <host>', 'HTTP bind address (env HOST, default 0.0.0.0)')
  .action(async (o: { dataDir?: string; port?: number; smtpPort?: number; host?: string }) => {
    const overrides: ConfigOverrides = { dataDir: o.dataDir, port: o.port, smtpPort: o.smtpPort, host: o.host };
    await runServe(loadConfig(overrides));
  });

program.command('init')
  .description('create an organization and print its first API key (once)')
  .option('--data-dir <dir>', 'data directory (env DATA_DIR, default ./data)')
  .option('--name <name>', 'organization name', 'default')
  .option('--json', 'print JSON')
  .action(async (o: { dataDir?: string; name: string; json?: boolean }) => {
    await runInit(loadConfig({ dataDir: o.dataDir }), o);
  });

program.command('import')
  .description('import an mbox file, a maildir or a folder of .eml files into a mailbox')
  .argument('<path>', 'mbox file, maildir or folder of .eml files')
  .requiredOption('--identity <address>', 'mailbox address; the identity and mailbox are created when absent')
  .option('--data-dir <dir>', 'data directory (env DATA_DIR, default ./data)')
  .option('--org <org_id>', 'organization (needed when the store has several)')
  .option('--json', 'print a JSON report')
  .action(async (p: string, o: { identity: string; dataDir?: string; org?: string; json?: boolean }) => {
    process.exitCode = await runImport(loadConfig({ dataDir: o.dataDir }), p, o);
  });

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`switchboard: ${err.message}\n`);
  process.exitCode = 1;
});
