/**
 * Threading on real mail: each corpus of ../shared/corpus is imported into a fresh store,
 * the conversations are read back through the HTTP API, and the partition is compared
 * with notmuch's reference threading (pairwise precision and recall over "same thread"
 * message pairs, as ../shared/tools/compare_threads.py computes them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMailSource } from '../../src/email/sources.js';
import { ensureMailbox } from '../../src/services/identities.js';
import { importMail, type ImportReport } from '../../src/services/import-mail.js';
import { CORPUS, HAS_CORPUS, harness, NO_CORPUS_REASON, type Harness } from '../helpers.js';

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

/** Every conversation's messages, read through the API (all pages). */
async function readPartition(h: Harness): Promise<{ threads: string[][]; messages: number }> {
  const threads: string[][] = [];
  let messages = 0;
  let cursor: string | null = null;
  do {
    const list = await h.request('GET', `/v1/conversations?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    expect(list.status).toBe(200);
    for (const conv of list.body.data) {
      const ids: string[] = [];
      let mc: string | null = null;
      do {
        const page = await h.request('GET', `/v1/conversations/${conv.id}/messages?limit=200${mc ? `&cursor=${mc}` : ''}`);
        expect(page.status).toBe(200);
        for (const m of page.body.data) {
          messages++;
          ids.push(m.headers.message_id ?? `file:${m.id}`);
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

const CORPORA = [
  { name: 'notmuch-default', minScore: 0.99 },
  { name: 'notmuch-lkml', minScore: 0.99 },
  { name: 'notmuch-threading', minScore: 0.99 },
  { name: 'notmuch-edge', minScore: null },
  { name: 'mimekit-jwz-mime', minScore: null },
] as const;

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
        partition = await readPartition(h);
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
    });
  }
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
