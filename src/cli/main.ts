#!/usr/bin/env node
/**
 * The `switchboard` command line: `serve`, `init`, `import`, `migrate`.
 *
 * Every command takes its store from `--data-dir` / `DATA_DIR` (SQLite) or
 * `--database-url` / `DATABASE_URL` (PostgreSQL).
 *
 * Output contract relied on by scripts:
 * - `init --json` prints `{"org_id", "api_key"}`;
 * - `import --json` prints `{"imported", "duplicates", "failed", "conversations", "seconds"}`.
 */
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, type ConfigOverrides } from '../config.js';
import { runImport } from './import.js';
import { runInit } from './init.js';
import { runMigrate } from './migrate.js';
import { runServe } from './serve.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

const DATA_DIR = ['--data-dir <dir>', 'SQLite data directory (env DATA_DIR, default ./data)'] as const;
const DATABASE_URL = ['--database-url <url>', 'PostgreSQL instead of SQLite (env DATABASE_URL)'] as const;

interface StoreOptions { dataDir?: string; databaseUrl?: string }
const storeOverrides = (o: StoreOptions): ConfigOverrides => ({ dataDir: o.dataDir, databaseUrl: o.databaseUrl });

const program = new Command()
  .name('switchboard')
  .description('Self-hosted conversations engine for AI agents')
  .showHelpAfterError();

program.command('serve')
  .description('run the HTTP API and the SMTP listener')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--port <n>', 'HTTP port (env PORT, default 8080)', port)
  .option('--smtp-port <n>', 'SMTP port (env SMTP_PORT, default 2525)', port)
  .option('--host <host>', 'HTTP bind address (env HOST, default 0.0.0.0)')
  .action(async (o: StoreOptions & { port?: number; smtpPort?: number; host?: string }) => {
    const overrides: ConfigOverrides = { ...storeOverrides(o), port: o.port, smtpPort: o.smtpPort, host: o.host };
    await runServe(loadConfig(overrides));
  });

program.command('init')
  .description('create an organization and print its first API key (once)')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--name <name>', 'organization name', 'default')
  .option('--json', 'print JSON')
  .action(async (o: StoreOptions & { name: string; json?: boolean }) => {
    await runInit(loadConfig(storeOverrides(o)), o);
  });

program.command('migrate')
  .description('apply pending schema migrations to the store')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--json', 'print {"store", "applied"}')
  .action(async (o: StoreOptions & { json?: boolean }) => {
    await runMigrate(loadConfig(storeOverrides(o)), o);
  });

program.command('import')
  .description('import an mbox file, a maildir or a folder of .eml files into a mailbox')
  .argument('<path>', 'mbox file, maildir or folder of .eml files')
  .requiredOption('--identity <address>', 'mailbox address; the identity and mailbox are created when absent')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--org <org_id>', 'organization (needed when the store has several)')
  .option('--json', 'print a JSON report')
  .action(async (p: string, o: StoreOptions & { identity: string; org?: string; json?: boolean }) => {
    process.exitCode = await runImport(loadConfig(storeOverrides(o)), p, o);
  });

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`switchboard: ${err.message}\n`);
  process.exitCode = 1;
});
