#!/usr/bin/env node
/**
 * The `switchboard` command line: `serve`, `init`, `keys`, `login-link`, `import`, `migrate`, `mcp`.
 *
 * Every command takes its store from `--data-dir` / `DATA_DIR` (SQLite) or
 * `--database-url` / `DATABASE_URL` (PostgreSQL), but `mcp`, which talks to a server
 * (`--url` / `SWITCHBOARD_URL`, `--api-key` / `SWITCHBOARD_API_KEY`) and writes nothing
 * to stdout but MCP messages.
 *
 * Output contract relied on by scripts:
 * - `init --json` prints `{"org_id", "name", "created", "owner_member_id", "organizations"}`,
 *   with `"api_key"` when it created the organization (init.ts);
 * - `keys create --json` prints `{"id", "key", "name", "org_id", "member_id", "identity_id",
 *   "permissions", "created_at"}` (keys.ts);
 * - `login-link --json` prints `{"url", "expires_at", "member_id", "org_id"}` (login-link.ts);
 * - `import --json` prints `{"imported", "duplicates", "failed", "conversations", "seconds"}`.
 */
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, type ConfigOverrides } from '../config.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

/** An email address, by the rule the API checks members' emails with (ajv-formats `email`). */
function email(value: string): string {
  if (!(fullFormats.email as RegExp).test(value)) throw new InvalidArgumentError('expected an email address');
  return value;
}

/** An http(s) URL without query or fragment (the server's address as people reach it). */
function baseUrl(value: string): string {
  if (!/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(value)) throw new InvalidArgumentError('expected an http(s) URL such as https://switchboard.example.com');
  return value;
}

/** Permission names, comma-separated; the option may be repeated. */
function permissionList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((p) => p.trim()).filter(Boolean)];
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
    await (await import('./serve.js')).runServe(loadConfig(overrides));
  });

program.command('init')
  .description('set the store up once: an organization, its first API key (printed once) and its owner member; '
    + 'on a store that has an organization, print it and create nothing')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--name <name>', 'name of the organization created', 'default')
  .option('--owner-email <email>', 'email of the owner member, when it is created (default owner@switchboard.invalid)', email)
  .option('--new-organization', 'create another organization even when the store has one')
  .option('--json', 'print JSON')
  .action(async (o: StoreOptions & { name: string; ownerEmail?: string; newOrganization?: boolean; json?: boolean }) => {
    await (await import('./init.js')).runInit(loadConfig(storeOverrides(o)), o);
  });

const keys = program.command('keys').description('API keys, on the store directly (a lost key is replaced by a new one)');

keys.command('create')
  .description('issue an API key and print it (once)')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--org <org_id>', 'organization (needed when the store has several)')
  .option('--name <name>', 'the key\'s name', 'cli')
  .option('--member <id|email>', 'the member the key acts as (its role narrows the key)')
  .option('--identity <id|handle>', 'the one identity the key sees (default: org-wide)')
  .option('--permissions <list>', 'comma-separated permissions (default: all the key can hold)', permissionList)
  .option('--json', 'print JSON')
  .action(async (o: StoreOptions & { org?: string; name: string; member?: string; identity?: string; permissions?: string[]; json?: boolean }) => {
    await (await import('./keys.js')).runKeysCreate(loadConfig(storeOverrides(o)), o);
  });

keys.command('list')
  .description('list the organization\'s API keys (never their secrets)')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--org <org_id>', 'organization (needed when the store has several)')
  .option('--json', 'print JSON')
  .action(async (o: StoreOptions & { org?: string; json?: boolean }) => {
    await (await import('./keys.js')).runKeysList(loadConfig(storeOverrides(o)), o);
  });

keys.command('revoke')
  .description('revoke an API key: it stops working at once')
  .argument('<key_id>', 'the key\'s id (key_…)')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--org <org_id>', 'only within this organization')
  .option('--json', 'print JSON')
  .action(async (id: string, o: StoreOptions & { org?: string; json?: boolean }) => {
    await (await import('./keys.js')).runKeysRevoke(loadConfig(storeOverrides(o)), id, o);
  });

program.command('login-link')
  .description('print a one-time sign-in link to the web inbox for a member (default: the owner)')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--org <org_id>', 'organization (needed when the store has several)')
  .option('--member <id|email>', 'the member who signs in (default: the organization\'s first owner)')
  .option('--base-url <url>', 'where people reach the server (default: PUBLIC_URL, else http://localhost:<PORT>)', baseUrl)
  .option('--json', 'print JSON')
  .action(async (o: StoreOptions & { org?: string; member?: string; baseUrl?: string; json?: boolean }) => {
    await (await import('./login-link.js')).runLoginLink(loadConfig(storeOverrides(o)), o);
  });

program.command('migrate')
  .description('apply pending schema migrations to the store')
  .option(...DATA_DIR)
  .option(...DATABASE_URL)
  .option('--json', 'print {"store", "applied"}')
  .action(async (o: StoreOptions & { json?: boolean }) => {
    await (await import('./migrate.js')).runMigrate(loadConfig(storeOverrides(o)), o);
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
    process.exitCode = await (await import('./import.js')).runImport(loadConfig(storeOverrides(o)), p, o);
  });

program.command('mcp')
  .description('serve the MCP tools over stdio (for desktop agent clients), acting on a Switchboard server with an API key')
  .addOption(new Option('--url <url>', 'the server\'s URL, e.g. http://localhost:8080').env('SWITCHBOARD_URL').makeOptionMandatory())
  .addOption(new Option('--api-key <key>', 'the API key the tools act with').env('SWITCHBOARD_API_KEY').makeOptionMandatory())
  .action(async (o: { url: string; apiKey: string }) => {
    await (await import('./mcp.js')).runMcp(o);
  });

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`switchboard: ${err.message}\n`);
  process.exitCode = 1;
});
