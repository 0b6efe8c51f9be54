/**
 * Group commit for live ingest: write commands for the same organizations that arrive
 * while one of their transactions is running wait for it, then share the next
 * transaction, so a burst of arrivals (50 SMTP clients at once) pays for one commit (one
 * WAL fsync on SQLite, one round trip of `COMMIT` on PostgreSQL) and one take of the org
 * lock per batch instead of per message.
 *
 * Nothing waits on a quiet server: a command that finds no transaction of its
 * organizations running starts one at once (on the next turn of the event loop, which
 * gathers the commands that arrived in the same turn). While mail keeps arriving (the
 * organizations' last transaction ended less than the gather window ago), the next
 * transaction waits for the window, or until `maxBatch` commands wait, so that a stream
 * of arrivals forms batches rather than a transaction each: on one event loop the
 * arrivals otherwise come one at a time, and each transaction would carry one or two
 * (docs/benchmarks.md, "Live ingest"). Each command runs inside its own
 * savepoint, so one that throws is rolled back alone and rejects with its error, while
 * the others commit. Commands given to one {@link BatchWriter} (live email ingest) are
 * written by one call of it, in one savepoint: a few multi-row statements for the lot
 * instead of a score of statements each; when that call throws, its writes are rolled
 * back and each of its commands is written again alone, in a savepoint of its own, so
 * again only the one that fails rejects. Every command still appends its own events with their own `seq`
 * (the feed stays gap-free and in commit order, store/sequences.ts). A command's promise
 * resolves only after the shared transaction has committed, so an SMTP `250` or an HTTP
 * 2xx sent on it is still sent after its own data is durable. When the commit itself
 * fails, each command of the batch is run again in a transaction of its own (as
 * {@link inOrgTransaction} would have), so one command cannot fail another.
 */
import { sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { inOrgTransaction } from './sequences.js';
import type { Store } from './store.js';

/** Default for the most commands one transaction carries (`INGEST_BATCH_MAX`). */
export const DEFAULT_GROUP_COMMIT_MAX = 32;
/** Default gather window while commands keep arriving, ms (`INGEST_BATCH_WAIT_MS`). */
export const DEFAULT_GROUP_COMMIT_WAIT_MS = 10;

type Work<T> = (tx: Transaction<Database>) => Promise<T>;

/**
 * Writes many commands of one kind at once (services/receive-email.ts writes the mail that
 * arrives together with one batch, services/ingest-email-batch.ts).
 */
export interface BatchWriter<I, R> {
  /**
   * Stores `items` in `tx` and returns each one's result, in input order (as many results
   * as items). Throwing fails the call: its writes are rolled back and each item is written
   * again by a call of its own. It must have no effects outside `tx` (it may run again).
   */
  write(tx: Transaction<Database>, items: readonly I[]): Promise<readonly R[]>;
}

interface Command {
  /** Who writes it: a {@link BatchWriter} shared by commands, or one made for a single `run`. */
  readonly writer: BatchWriter<unknown, unknown>;
  readonly item: unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/** The commands waiting for one set of organizations, and whether their transaction runs. */
interface Lane {
  readonly orgIds: readonly string[];
  readonly waiting: Command[];
  running: boolean;
  /** The gather window's timer, while the lane waits for it. */
  timer: NodeJS.Timeout | null;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly err: unknown };

/**
 * Batches write commands into shared transactions, per set of organizations (commands of
 * different organizations never share a transaction, so they never wait for each other's
 * locks on PostgreSQL).
 */
export class GroupCommitter {
  readonly #store: Store;
  readonly #max: number;
  readonly #waitMs: number;
  readonly #lanes = new Map<string, Lane>();
  /** When each set of organizations' last transaction ended (`performance.now()`, ms), while within the window. */
  readonly #lastEnded = new Map<string, number>();

  /**
   * @param maxBatch most commands per transaction (1 turns grouping off: each command
   *   gets a transaction of its own, exactly as {@link inOrgTransaction}).
   * @param waitMs the gather window while commands keep arriving, ms (0: never wait).
   */
  constructor(store: Store, maxBatch = DEFAULT_GROUP_COMMIT_MAX, waitMs = DEFAULT_GROUP_COMMIT_WAIT_MS) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
    if (!Number.isFinite(waitMs) || waitMs < 0) throw new RangeError(`waitMs must be a non-negative number, got ${waitMs}`);
    this.#store = store;
    this.#max = maxBatch;
    this.#waitMs = waitMs;
  }

  /**
   * Runs `work` in a transaction holding the write lock of `orgIds`, possibly shared with
   * other commands for the same organizations, inside a savepoint of its own.
   *
   * `work` must have no effects outside the transaction (it may run again: on a
   * PostgreSQL serialization failure, or alone after a failed shared commit).
   *
   * @returns what `work` returned, once the transaction has committed.
   * @throws what `work` threw (its writes rolled back, the others' kept), or the commit's error.
   */
  run<T>(orgIds: string | readonly string[], work: Work<T>): Promise<T> {
    if (this.#max === 1) return inOrgTransaction(this.#store, orgIds, work);
    return this.#enqueue(orgIds, { write: async (tx) => [await work(tx)] }, undefined) as Promise<T>;
  }

  /**
   * Has `writer` store `item` in a transaction holding the write lock of `orgIds`, in one
   * call with the other items given to the same writer that share the transaction.
   *
   * @returns the item's result, once the transaction has committed.
   * @throws what `writer` threw when it wrote this item alone (its writes rolled back, the
   *   others' kept), or the commit's error.
   */
  write<I, R>(orgIds: string | readonly string[], writer: BatchWriter<I, R>, item: I): Promise<R> {
    if (this.#max === 1) return inOrgTransaction(this.#store, orgIds, (tx) => writeOne(tx, writer, item));
    return this.#enqueue(orgIds, writer as BatchWriter<unknown, unknown>, item) as Promise<R>;
  }

  #enqueue(orgIds: string | readonly string[], writer: BatchWriter<unknown, unknown>, item: unknown): Promise<unknown> {
    const ids = [...new Set(typeof orgIds === 'string' ? [orgIds] : orgIds)].sort();
    const key = ids.join('\n');
    let lane = this.#lanes.get(key);
    if (!lane) {
      lane = { orgIds: ids, waiting: [], running: false, timer: null };
      this.#lanes.set(key, lane);
    }
    return new Promise((resolve, reject) => {
      lane.waiting.push({ writer, item, resolve, reject });
      if (lane.timer && lane.waiting.length >= this.#max) {
        // The batch is full: no reason to wait longer.
        clearTimeout(lane.timer);
        lane.timer = null;
        setImmediate(() => void this.#drain(key, lane));
      }
      if (lane.running) return;
      lane.running = true;
      const ended = this.#lastEnded.get(key);
      if (ended !== undefined && performance.now() - ended < this.#waitMs && lane.waiting.length < this.#max) {
        lane.timer = setTimeout(() => {
          lane.timer = null;
          void this.#drain(key, lane);
        }, this.#waitMs);
      } else {
        setImmediate(() => void this.#drain(key, lane));
      }
    });
  }

  /** Commits the lane's waiting commands, batch after batch, until none is left. */
  async #drain(key: string, lane: Lane): Promise<void> {
    while (lane.waiting.length > 0) {
      const batch = lane.waiting.splice(0, this.#max);
      if (batch.length === 1) await this.#alone(lane.orgIds, batch[0]!);
      else await this.#together(lane.orgIds, batch);
    }
    lane.running = false;
    this.#lanes.delete(key);
    this.#ended(key);
  }

  /** Notes that `key`'s transactions ended now, forgetting the sets whose window has passed. */
  #ended(key: string): void {
    const now = performance.now();
    this.#lastEnded.delete(key); // re-inserted last: the map stays in order of ending
    this.#lastEnded.set(key, now);
    for (const [k, at] of this.#lastEnded) {
      if (now - at < this.#waitMs) break;
      this.#lastEnded.delete(k);
    }
  }

  /** One command in a transaction of its own. */
  async #alone(orgIds: readonly string[], command: Command): Promise<void> {
    try {
      command.resolve(await inOrgTransaction(this.#store, orgIds, (tx) => writeOne(tx, command.writer, command.item)));
    } catch (err) {
      command.reject(err);
    }
  }

  /** Several commands in one transaction: each writer's commands in a savepoint. */
  async #together(orgIds: readonly string[], batch: readonly Command[]): Promise<void> {
    // Each writer's commands, in the order of its first command.
    const groups = new Map<BatchWriter<unknown, unknown>, Command[]>();
    for (const command of batch) {
      const group = groups.get(command.writer);
      if (group) group.push(command);
      else groups.set(command.writer, [command]);
    }
    const outcomes = new Map<Command, Outcome>();
    try {
      await inOrgTransaction(this.#store, orgIds, async (tx) => {
        outcomes.clear(); // the transaction may run again (PostgreSQL retries)
        for (const [writer, commands] of groups) {
          const together = await inSavepoint(tx, () => writer.write(tx, commands.map((c) => c.item)));
          if (together.ok) {
            const values = checkedResults(together.value, commands.length);
            commands.forEach((c, i) => outcomes.set(c, { ok: true, value: values[i] }));
            continue;
          }
          if (commands.length === 1) {
            outcomes.set(commands[0]!, together);
            continue;
          }
          // The writer failed the lot: each command again alone, so only the one that fails is lost.
          for (const command of commands) outcomes.set(command, await inSavepoint(tx, () => writeOne(tx, writer, command.item)));
        }
      });
    } catch {
      // The shared commit failed: nothing of the batch is stored. Each command gets its own try.
      for (const command of batch) await this.#alone(orgIds, command);
      return;
    }
    for (const command of batch) {
      const outcome = outcomes.get(command)!;
      if (outcome.ok) command.resolve(outcome.value);
      else command.reject(outcome.err);
    }
  }
}

/** `work` in a savepoint of `tx`: its writes are kept when it returns, rolled back when it throws. */
async function inSavepoint<T>(tx: Transaction<Database>, work: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: unknown }> {
  await sql`savepoint group_command`.execute(tx);
  try {
    const value = await work();
    await sql`release savepoint group_command`.execute(tx);
    return { ok: true, value };
  } catch (err) {
    await sql`rollback to savepoint group_command`.execute(tx);
    await sql`release savepoint group_command`.execute(tx);
    return { ok: false, err };
  }
}

/** One item written by `writer` alone: its result. */
async function writeOne<I, R>(tx: Transaction<Database>, writer: BatchWriter<I, R>, item: I): Promise<R> {
  return checkedResults(await writer.write(tx, [item]), 1)[0]!;
}

/** `results`, when a writer returned one per item. */
function checkedResults<R>(results: readonly R[], items: number): readonly R[] {
  if (results.length !== items) throw new Error(`a batch writer returned ${results.length} results for ${items} items`);
  return results;
}

const committers = new WeakMap<Store, GroupCommitter>();

/**
 * The store's group committer, made on first use with `maxBatch` and `waitMs` (later calls return the
 * same one, whatever they pass): one per store, so every ingest path of a server
 * (SMTP, `POST /v1/inbound/email`, channel webhooks) shares its batches.
 */
export function groupCommitter(store: Store, maxBatch?: number, waitMs?: number): GroupCommitter {
  let committer = committers.get(store);
  if (!committer) {
    committer = new GroupCommitter(store, maxBatch, waitMs);
    committers.set(store, committer);
  }
  return committer;
}
