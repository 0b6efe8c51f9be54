/**
 * `switchboard import PATH --identity ADDRESS`: streams a mailbox export into the store,
 * with a progress bar on a terminal and a per-item report.
 */
import { SingleBar, Presets } from 'cli-progress';
import type { Config } from '../config.js';
import { openMailSource } from '../email/sources.js';
import { ensureMailbox } from '../services/identities.js';
import { importMail } from '../services/import-mail.js';
import { setUpOrganization } from '../services/organization-setup.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { pickOrganization } from './organizations.js';

/** The organization to import into (organizations.ts); on an empty store, one set up as `init` does. */
async function resolveOrg(store: Store, wanted: string | undefined): Promise<string> {
  const org = await pickOrganization(store.db, wanted);
  if (org) return org.id;
  const { organization, apiKey } = await setUpOrganization(store, { name: 'default' });
  if (apiKey) process.stderr.write(`Created organization ${organization.id}. API key (shown once): ${apiKey.key}\n`);
  return organization.id;
}

/** @returns the process exit code: 0, or 1 when any message failed. */
export async function runImport(config: Config, p: string, o: { identity: string; org?: string; json?: boolean }): Promise<number> {
  const source = await openMailSource(p);
  // A batch: no one waits on a single commit, so the WAL is checkpointed by the writer itself.
  const store = await openStore(config, { backgroundCheckpoints: false });
  try {
    const orgId = await resolveOrg(store, o.org);
    const account = await ensureMailbox(store, orgId, o.identity);
    const bar = process.stderr.isTTY
      ? new SingleBar({ format: ' {bar} {percentage}% | {value}/{total} {unit} | {eta_formatted} left', hideCursor: true }, Presets.shades_classic)
      : null;
    const byCount = source.count !== null;
    bar?.start(byCount ? source.count! : source.bytes, 0, { unit: byCount ? 'messages' : 'bytes' });
    const report = await importMail(store, config, account, source, {
      onProgress: (done, bytes) => bar?.update(byCount ? done : bytes),
    });
    bar?.stop();
    for (const f of report.failures) process.stderr.write(`failed: ${f.source}: ${f.reason}\n`);
    const { imported, duplicates, failed, conversations } = report;
    const seconds = Math.round(report.seconds * 1000) / 1000;
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ imported, duplicates, failed, conversations, seconds })}\n`);
    } else {
      process.stdout.write(`Imported ${imported} messages into ${conversations} new conversations (${duplicates} duplicates, ${failed} failed) in ${seconds}s.\n`);
    }
    return failed > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}
