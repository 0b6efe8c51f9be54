/**
 * Bulk import of existing mail into one mailbox: streamed, parsed in parallel by a
 * worker pool, committed in batches in input order (services/ingest-email-batch.ts),
 * and reported per item (a message that fails is counted with its reason; the rest go on).
 */
import { parseEmail, type ParsedEmail } from '../email/parse.js';
import { ParsePool } from '../email/parse-pool.js';
import { snippetOf } from '../domain/snippet.js';
import type { MailSource, RawMail } from '../email/sources.js';
import type { AccountRow } from '../store/identities.js';
import type { Store } from '../store/store.js';
import { inOrgTransaction } from '../store/sequences.js';
import { ingestEmail, type IngestResult, type ThreadingPolicy } from './ingest-email.js';
import { ingestEmailBatch } from './ingest-email-batch.js';

export interface ImportFailure {
  readonly source: string;
  readonly reason: string;
}

export interface ImportReport {
  readonly imported: number;
  readonly duplicates: number;
  readonly failed: number;
  /** Conversations this import created. */
  readonly conversations: number;
  readonly seconds: number;
  readonly failures: readonly ImportFailure[];
}

export interface ImportOptions {
  /** Messages per transaction. */
  readonly batchSize?: number;
  /** Called after each committed batch with messages done so far and input bytes read. */
  readonly onProgress?: (done: number, bytes: number) => void;
  /** Most failures kept in the report (all are counted). */
  readonly maxFailuresReported?: number;
  /**
   * Parser worker threads; 0 parses on the calling thread, as does running from the
   * TypeScript sources (tests). Default: one per core.
   */
  readonly parseThreads?: number;
}

interface Parsed { readonly mail: RawMail; readonly parsed: ParsedEmail; readonly snippet: string; readonly tokens?: readonly string[] }

/** Parses on this thread (small imports, or when a worker fails). */
async function parseHere(mail: RawMail): Promise<Parsed> {
  const parsed = await parseEmail(mail.raw);
  return { mail, parsed, snippet: snippetOf(parsed.text, parsed.html) };
}

/**
 * Imports every message of `source` into `account`. Messages are threaded and
 * deduplicated exactly as live mail is, but carry their Date as the event time.
 */
export async function importMail(
  store: Store, policy: ThreadingPolicy, account: AccountRow, source: MailSource, options: ImportOptions = {},
): Promise<ImportReport> {
  const started = performance.now();
  const batchSize = options.batchSize ?? 250;
  const maxFailures = options.maxFailuresReported ?? 100;
  let imported = 0, duplicates = 0, failed = 0, conversations = 0, bytes = 0;
  const failures: ImportFailure[] = [];
  const fail = (source: string, reason: string) => {
    failed++;
    if (failures.length < maxFailures) failures.push({ source, reason });
  };
  const count = (r: IngestResult) => {
    if (r.status === 'duplicate') duplicates++;
    else {
      imported++;
      if (r.newConversation) conversations++;
    }
  };

  const ingestOne = (tx: Parameters<Parameters<Store['transaction']>[0]>[0], p: Parsed) =>
    ingestEmail(tx, policy, account, p.mail.raw, p.parsed, { at: 'date', snippet: p.snippet });

  const commit = async (batch: Parsed[]) => {
    if (batch.length === 0) return;
    try {
      const results = await inOrgTransaction(store, account.org_id, (tx) => ingestEmailBatch(
        tx, policy, account, batch.map((p) => ({ raw: p.mail.raw, parsed: p.parsed, snippet: p.snippet, tokens: p.tokens })), { at: 'date' },
      ));
      results.forEach(count);
    } catch {
      // Retry one by one, so a single bad message cannot sink its whole batch.
      for (const p of batch) {
        try {
          count(await inOrgTransaction(store, account.org_id, (tx) => ingestOne(tx, p)));
        } catch (err) {
          fail(p.mail.source, (err as Error).message);
        }
      }
    }
    options.onProgress?.(imported + duplicates + failed, bytes);
  };

  // Parsing runs ahead of the writer by at most two batches (memory stays flat).
  const pool = options.parseThreads !== 0 && ParsePool.available() ? new ParsePool({ threads: options.parseThreads }) : null;
  const parse = (mail: RawMail): Promise<Parsed> => pool
    ? pool.parse(mail.raw, { tokens: true }).then((out) => ({ mail, ...out }), () => parseHere(mail))
    : parseHere(mail);
  const inFlight: Promise<Parsed>[] = [];
  const commitNext = async () => commit(await Promise.all(inFlight.splice(0, batchSize)));
  try {
    for await (const mail of source.messages()) {
      bytes += mail.raw.length;
      if (mail.raw.length === 0) {
        fail(mail.source, 'empty message');
        continue;
      }
      inFlight.push(parse(mail));
      if (inFlight.length >= 2 * batchSize) await commitNext();
    }
    while (inFlight.length > 0) await commitNext();
  } finally {
    await pool?.close();
  }
  return { imported, duplicates, failed, conversations, seconds: (performance.now() - started) / 1000, failures };
}
