/**
 * WAL checkpoints off the event loop.
 *
 * In WAL mode every commit appends pages to the `-wal` file, and a checkpoint copies them
 * back into the database file (sqlite.org/wal.html, "Checkpointing"). By default the
 * connection that commits runs it, in each commit that leaves the WAL at
 * `wal_autocheckpoint` pages (1,000) or more: with better-sqlite3 that is the event loop,
 * blocked while up to some 4 MB are written into the database file and fsynced, and every
 * request, message and live stream in flight waits for it.
 *
 * Here a worker thread of the process holds one connection per store file and runs
 * `PRAGMA wal_checkpoint(PASSIVE)` on each every {@link CHECKPOINT_INTERVAL_MS}. A passive
 * checkpoint takes no lock a writer or reader waits for: it copies what it can and leaves
 * the rest for the next one. When it has copied everything before the next transaction
 * begins, that transaction writes the WAL from its beginning again, so the file does not
 * grow. The writer keeps SQLite's own checkpoint as the backstop: under a write load the
 * worker cannot catch up with, a commit that leaves 1,000 pages or more copies only what
 * the worker has not (its checkpoint is incremental), and the WAL stays bounded as before.
 * The interval is not shorter because each checkpoint writes every page changed since the
 * last one: a page changed by every commit (an index's root, the organization's sequence)
 * would be written to the database file that much more often.
 *
 * The worker starts with the first store the process opens and stays, idle, after the last
 * one closes (it does not keep the process alive). Its code is the string below (no module
 * file), so it runs from the TypeScript sources in tests as it does from the build. Without
 * it (it could not start, or it died) the writer's own checkpoints still run: that loses
 * latency, never data.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the worker checkpoints each file, ms. */
export const CHECKPOINT_INTERVAL_MS = 250;

/** Messages from the process to the worker; the worker answers a `close` with its `id`. */
type ToWorker = { readonly type: 'open'; readonly filename: string } | { readonly type: 'close'; readonly filename: string; readonly id: number };
type FromWorker = { readonly type: 'closed'; readonly id: number };

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const open = new Map();
parentPort.on('message', ({ type, filename, id }) => {
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
    parentPort.postMessage({ type: 'closed', id });
  }
});
setInterval(() => {
  for (const db of open.values()) {
    try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: the next turn copies it */ }
  }
}, workerData.intervalMs);
`;

/** The running worker and the closes it has not answered yet, by id. */
interface Checkpointer {
  readonly worker: Worker;
  readonly closing: Map<number, () => void>;
}

let current: Checkpointer | null = null;
/** Stores open per file in this process, on the current worker (a file opened twice is checkpointed once). */
const holders = new Map<string, number>();
let nextCloseId = 0;

/** @returns the worker, started if need be; null when it cannot start here. */
function checkpointer(): Checkpointer | null {
  if (current) return current;
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { betterSqlite3: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: CHECKPOINT_INTERVAL_MS },
      // A checkpointer needs no more than SQLite's own memory.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
  } catch (err) {
    process.emitWarning(`WAL checkpoints stay in the committing connection: ${(err as Error).message}`);
    return null;
  }
  const c: Checkpointer = { worker, closing: new Map() };
  worker.on('message', (m: FromWorker) => {
    c.closing.get(m.id)?.();
    c.closing.delete(m.id);
    if (c.closing.size === 0) worker.unref();
  });
  worker.on('error', (err: Error) => process.emitWarning(`the WAL checkpoint worker failed: ${err.message}`));
  worker.on('exit', () => {
    // Its connections are gone with it: nothing to wait for, and the next store starts a new one.
    if (current === c) {
      current = null;
      holders.clear();
    }
    for (const done of c.closing.values()) done();
    c.closing.clear();
  });
  worker.unref();
  current = c;
  return c;
}

/**
 * Checkpoints `filename` (a WAL-mode SQLite database) from the worker thread until the
 * returned function is called.
 *
 * @param filename the database file, as the store opened it.
 * @returns `stop`: resolves once the worker's connection to the file is closed, so the
 *   store's own close is the last one (which checkpoints and removes the WAL). When the
 *   worker cannot start, a `stop` that does nothing.
 */
export function checkpointInBackground(filename: string): () => Promise<void> {
  const c = checkpointer();
  if (!c) return async () => {};
  const held = holders.get(filename) ?? 0;
  holders.set(filename, held + 1);
  if (held === 0) c.worker.postMessage({ type: 'open', filename } satisfies ToWorker);
  let stopped = false;
  return async () => {
    if (stopped || current !== c) return;
    stopped = true;
    const left = (holders.get(filename) ?? 1) - 1;
    if (left > 0) {
      holders.set(filename, left);
      return;
    }
    holders.delete(filename);
    const id = ++nextCloseId;
    // The worker does not keep the process alive; waiting for its answer must.
    c.worker.ref();
    await new Promise<void>((resolve) => {
      c.closing.set(id, resolve);
      c.worker.postMessage({ type: 'close', filename, id } satisfies ToWorker);
    });
  };
}
