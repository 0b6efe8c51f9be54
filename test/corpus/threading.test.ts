/**
 * Threading on real mail: each corpus of ../shared/corpus is imported into a fresh store,
 * the conversations are read back through the HTTP API, and the partition is compared
 * with notmuch's reference threading (pairwise precision and recall over "same thread"
 * message pairs, as ../shared/tools/compare_threads.py computes them). Then the same
 * mail in random orders, imported and delivered over SMTP, must give the same partition.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openMailSource, type MailSource } from '../../src/email/sources.js';
import { startServer } from '../../src/server.js';
import { ensureMailbox } from '../../src/services/identities.js';
import { importMail, type ImportReport } from '../../src/services/import-mail.js';
import { CORPUS, freshDatabase, HAS_CORPUS, harness, NO_CORPUS_REASON, tempDir, type Harness, NO_LOAD_SHEDDING } from '../helpers.js';

interface Reference {
  threads: string[][];
  files: Record<string, string[]>;
  synthetic_ids: Record<string, unknown>;
}

/** Pairwise precision/recall of `candidate` against `reference`, over ids in both. */
export function pairwise(reference: string[][], candidate: string[][]): { precision: number; recall: number } {
  const inRef = new Set(reference.flat());
  const common = new Set(candidate.flat().filter((id) => inRef.has(id)));
  const pairs = (threads: string[][]) => {
    const s = new Set<string>();
    for (const t of threads) {
      const ids = [...new Set(t.filter((id) => common.has(id)))].sort();
      for (let i = 0; i < ids.length; i++) for (let j = i + 1; j < ids.length; j++) s.add(`${ids[i]}\u0000${ids[j]}`);
    }
    return s;
  };
  const r = pairs(reference);
  const c = pairs(candidate);
  let tp = 0;
  for (const p of c) if (r.has(p)) tp++;
  return { precision: c.size ? tp / c.size : 1, recall: r.size ? tp / r.size : 1 };
}

type Request = Harness['request'];

/**
 * Every conversation's messages, read through the API (all pages). A message is named
 * by its Message-ID, or by the SHA-256 of its raw bytes when it has none.
 */
async function readPartition(request: Request): Promise<{ threads: string[][]; messages: number }> {
  const threads: string[][] = [];
  let messages = 0;
  let cursor: string | null = null;
  do {
    const list = await request('GET', `/v1/conversations?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    expect(list.status).toBe(200);
    for (const conv of list.body.data) {
      const ids: string[] = [];
      let mc: string | null = null;
      do {
        const page = await request('GET', `/v1/conversations/${conv.id}/messages?limit=200${mc ? `&cursor=${mc}` : ''}`);
        expect(page.status).toBe(200);
        for (const m of page.body.data) {
          messages++;
          ids.push(m.headers.message_id ?? `sha256:${await rawDigest(request, m.id)}`);
        }
        mc = page.body.next_cursor;
      } while (mc);
      expect(ids.length).toBe(conv.message_count);
      threads.push(ids);
    }
    cursor = list.body.next_cursor;
  } while (cursor);
  return { threads, messages };
}

async function rawDigest(request: Request, messageId: string): Promise<string> {
  const raw = await request('GET', `/v1/messages/${messageId}/raw`);
  expect(raw.status).toBe(200);
  return crypto.createHash('sha256').update(String(raw.body)).digest('hex');
}

/** A partition as a canonical string: each thread's ids sorted, threads sorted. */
const canonical = (threads: readonly string[][]) => threads.map((t) => [...t].sort().join('\n')).sort().join('\n\n');

/** The corpus files, in file order. */
function corpusFiles(name: string): { source: string; raw: Buffer }[] {
  const dir = path.join(CORPUS, name);
  return fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort().map((f) => ({ source: f, raw: fs.readFileSync(path.join(dir, f)) }));
}

/** Messages in a chosen order, as an import source. */
function memorySource(mail: readonly { source: string; raw: Buffer }[]): MailSource {
  return {
    kind: 'eml-folder', count: mail.length, bytes: mail.reduce((n, m) => n + m.raw.length, 0),
    async *messages() { yield* mail; },
  };
}

const CORPORA = [
  { name: 'notmuch-default', minScore: 0.99 },
  { name: 'notmuch-lkml', minScore: 0.99 },
  { name: 'notmuch-threading', minScore: 0.99 },
  { name: 'notmuch-edge', minScore: null },
  { name: 'mimekit-jwz-mime', minScore: null },
] as const;

/** Each corpus's partition when imported in file order (filled by the first suite). */
const fileOrder = new Map<string, string>();

describe.skipIf(!HAS_CORPUS)('threading of real mail against notmuch', () => {
  if (!HAS_CORPUS) it.skip(NO_CORPUS_REASON, () => {});

  for (const corpus of CORPORA) {
    describe(corpus.name, () => {
      let h: Harness;
      let report: ImportReport;
      let reference: Reference;
      let partition: { threads: string[][]; messages: number };

      beforeAll(async () => {
        h = await harness();
        reference = JSON.parse(fs.readFileSync(path.join(CORPUS, `${corpus.name}-notmuch-threads.json`), 'utf8'));
        const account = await ensureMailbox(h.store, h.orgId, 'archive@switchboard.test');
        report = await importMail(h.store, h.config, account, await openMailSource(path.join(CORPUS, corpus.name)));
        partition = await readPartition(h.request);
        fileOrder.set(corpus.name, canonical(partition.threads));
      });
      afterAll(async () => h?.close());

      it('imports every file without a failure', () => {
        const files = fs.readdirSync(path.join(CORPUS, corpus.name)).filter((f) => f.endsWith('.eml'));
        expect(report.failed).toBe(0);
        expect(report.imported + report.duplicates).toBe(files.length);
      });

      it('stores each distinct message once (no message lost, no duplicate kept)', () => {
        // Distinct messages: every Message-ID of the manifest (notmuch skips files it
        // deems non-mail; we keep them) plus the ids notmuch synthesized for files without one.
        const manifestIds = fs.readFileSync(path.join(CORPUS, corpus.name, 'manifest.tsv'), 'utf8')
          .split('\n').slice(1).map((l) => l.split('\t')[2]?.replace(/\s+/g, '')) // folded ids, read as notmuch does
          .filter((id): id is string => !!id);
        const distinct = new Set([...manifestIds, ...reference.threads.flat()]);
        expect(report.imported).toBe(distinct.size);
        expect(partition.messages).toBe(distinct.size);
        const ours = new Set(partition.threads.flat());
        for (const id of manifestIds) expect(ours.has(id), `message ${id} missing`).toBe(true);
      });

      if (corpus.minScore !== null) {
        it(`threads like notmuch (pairwise precision and recall >= ${corpus.minScore})`, () => {
          const { precision, recall } = pairwise(reference.threads, partition.threads);
          expect(precision).toBeGreaterThanOrEqual(corpus.minScore!);
          expect(recall).toBeGreaterThanOrEqual(corpus.minScore!);
        });
      }

      it('property: imported in any order, the mail makes the same conversations', async () => {
        const files = corpusFiles(corpus.name);
        await fc.assert(fc.asyncProperty(fc.shuffledSubarray(files, { minLength: files.length, maxLength: files.length }), async (order) => {
          const run = await harness();
          try {
            const account = await ensureMailbox(run.store, run.orgId, 'archive@switchboard.test');
            const r = await importMail(run.store, run.config, account, memorySource(order), { parseThreads: 0 });
            expect(r.failed).toBe(0);
            const shuffled = await readPartition(run.request);
            expect(canonical(shuffled.threads)).toBe(canonical(partition.threads));
          } finally {
            await run.close();
          }
        }), { numRuns: 3 });
      });
    });
  }
});

describe.skipIf(!HAS_CORPUS)('threading of real mail delivered over SMTP in reverse order', () => {
  if (!HAS_CORPUS) it.skip(NO_CORPUS_REASON, () => {});

  it('makes the same conversations as the import in file order, for every corpus', async () => {
    const database = await freshDatabase();
    const dataDir = tempDir('switchboard-corpus-smtp-');
    const config = loadConfig({
      dataDir, databaseUrl: database.url, host: '127.0.0.1', port: 0, smtpHost: '127.0.0.1', smtpPort: 0, ...NO_LOAD_SHEDDING, logLevel: 'silent',
    }, {});
    const server = await startServer(config);
    const key = server.firstRun!.apiKey;
    const request: Request = async (method, url, body) => {
      const res = await fetch(`http://127.0.0.1:${server.port}${url}`, {
        method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* raw mail */ }
      return { status: res.status, body: parsed as any, headers: {} };
    };
    // One connection for the whole run, as an MTA with a queue would use.
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity });
    try {
      for (const corpus of CORPORA) {
        const identity = await request('POST', '/v1/identities', { handle: corpus.name });
        expect(identity.status).toBe(201);
        const address = `${corpus.name}@switchboard.test`;
        expect((await request('POST', '/v1/mailboxes', { identity_id: identity.body.id, address })).status).toBe(201);
        for (const mail of corpusFiles(corpus.name).reverse()) {
          await transport.sendMail({ envelope: { from: 'list@relay.test', to: [address] }, raw: mail.raw });
        }
        const scoped: Request = (method, url, body) => request(method, url.replace('/v1/conversations?', `/v1/conversations?identity_id=${identity.body.id}&`), body);
        const partition = await readPartition(scoped);
        expect(canonical(partition.threads), corpus.name).toBe(fileOrder.get(corpus.name));
      }
    } finally {
      transport.close();
      await server.close();
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('pairwise metric', () => {
  it('scores a perfect partition 1 and a merged one below 1 in precision only', () => {
    const ref = [['a', 'b'], ['c', 'd']];
    expect(pairwise(ref, [['b', 'a'], ['d', 'c']])).toEqual({ precision: 1, recall: 1 });
    const merged = pairwise(ref, [['a', 'b', 'c', 'd']]);
    expect(merged.recall).toBe(1);
    expect(merged.precision).toBeCloseTo(2 / 6);
    const split = pairwise(ref, [['a'], ['b'], ['c', 'd']]);
    expect(split.precision).toBe(1);
    expect(split.recall).toBe(0.5);
  });
});
