/**
 * WAL checkpoints off the event loop.
 *
 * In WAL mode every commit appends pages to the `-wal` file, and a checkpoint copies them
 * back into the database file (sqlite.org/wal.html, "Checkpointing"). By default the
 * connection that commits runs it, as part of the commit that takes the WAL past
 * `wal_autocheckpoint` pages (1,000): with better-sqlite3 that is the event loop, blocked
 * while up to some 4 MB are written into the database file and fsynced, and every request,
 * message and live stream in flight waits for it.
 *
 * Here a worker thread of the process holds one connection per store file and runs
 * `PRAGMA wal_checkpoint(PASSIVE)` on each every {@link CHECKPOINT_INTERVAL_MS}. A passive
 * checkpoint takes no lock a writer or reader waits for: it copies what it can and leaves
 * the rest for the next one. When it has copied everything before the next transaction
 * begins, that transaction starts the WAL over from its beginning, so the file stays
 * small. The writer keeps SQLite's own checkpoint as the backstop: under a write load
 * the worker cannot catch up with, the commit that passes 1,000 pages copies only what
 * the worker has not (its checkpoint is incremental), and the WAL stays bounded as before.
 * The interval is not shorter because each checkpoint writes every page changed since the
 * last one: a page changed by every commit (an index's root, the organization's sequence)
 * would be written to the database file that much more often.
 *
 * The worker starts with the first store the process opens and stays, idle, after the last
 * one closes (it does not keep the process alive). Its code is the string below (no module
 * file), so it runs from the TypeScript sources in tests as it does from the build.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the worker checkpoints each file, ms. */
export const CHECKPOINT_INTERVAL_MS = 250;

/** Messages from the process to the worker, and the worker's acknowledgement of `close`. */
type ToWorker = { readonly type: 'open' | 'close'; readonly filename: string };
type FromWorker = { readonly type: 'closed'; readonly filename: string };

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const open = new Map();
parentPort.on('message', ({ type, filename }) => {
  if (type === 'open' && !open.has(filename)) {
    try {
      const db = new Database(filename, { fileMustExist: true });
      // A passive checkpoint never waits; what it cannot copy now it copies next time.
      db.pragma('busy_timeout = 0');
      open.set(filename, db);
    } catch { /* gone already: the store's own checkpoints remain */ }
  } else if (type === 'close') {
    open.get(filename)?.close();
    open.delete(filename);
    parentPort.postMessage({ type: 'closed', filename });
  }
});
setInterval(() => {
  for (const db of open.values()) {
    try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: the next turn copies it */ }
  }
}, workerData.intervalMs);
`;

let worker: Worker | null = null;
/** Stores open per file in this process (a file opened twice is checkpointed once). */
const holders = new Map<string, number>();
const closing = new Map<string, Array<() => void>>();

function startWorker(): Worker {
  const w = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { betterSqlite3: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: CHECKPOINT_INTERVAL_MS },
    // A checkpointer needs no more than SQLite's own memory.
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  });
  w.on('message', (m: FromWorker) => {
    for (const done of closing.get(m.filename) ?? []) done();
    closing.delete(m.filename);
  });
  // Without the worker the writer's own checkpoints still run: losing it loses speed, not data.
  w.on('error', () => { if (worker === w) worker = null; });
  w.on('exit', () => {
    if (worker === w) worker = null;
    for (const waiting of closing.values()) for (const done of waiting) done();
    closing.clear();
  });
  w.unref();
  return w;
}

/**
 * Checkpoints `filename` (a WAL-mode SQLite database) from the worker thread until the
 * returned function is called.
 *
 * @param filename the database file, as the store opened it.
 * @returns `stop`: resolves once the worker's connection to the file is closed, so the
 *   store's own close is the last one (which checkpoints and removes the WAL).
 */
export function checkpointInBackground(filename: string): () => Promise<void> {
  worker ??= startWorker();
  const held = holders.get(filename) ?? 0;
  holders.set(filename, held + 1);
  if (held === 0) worker.postMessage({ type: 'open', filename } satisfies ToWorker);
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    const left = (holders.get(filename) ?? 1) - 1;
    if (left > 0) {
      holders.set(filename, left);
      return;
    }
    holders.delete(filename);
    const w = worker;
    if (!w) return;
    // The worker does not keep the process alive; waiting for its answer must.
    w.ref();
    try {
      await new Promise<void>((resolve) => {
        closing.set(filename, [...(closing.get(filename) ?? []), resolve]);
        w.postMessage({ type: 'close', filename } satisfies ToWorker);
      });
    } finally {
      if (closing.size === 0) w.unref();
    }
  };
}
