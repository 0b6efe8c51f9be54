/**
 * Group commit for live ingest: write commands for the same organizations that arrive
 * while one of their transactions is running wait for it, then share the next
 * transaction, so a burst of arrivals (50 SMTP clients at once) pays for one commit (one
 * WAL fsync on SQLite, one round trip of `COMMIT` on PostgreSQL) and one take of the org
 * lock per batch instead of per message.
 *
 * Nothing waits on a quiet server: a command that finds no transaction of its
 * organizations running starts one at once (on the next turn of the event loop, which
 * gathers the commands that arrived in the same turn). Each command runs inside its own
 * savepoint, so one that throws is rolled back alone and rejects with its error, while
 * the others commit; every command still appends its own events with their own `seq`
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

type Work<T> = (tx: Transaction<Database>) => Promise<T>;

interface Command {
  readonly work: Work<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/** The commands waiting for one set of organizations, and whether their transaction runs. */
interface Lane {
  readonly orgIds: readonly string[];
  readonly waiting: Command[];
  running: boolean;
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
  readonly #lanes = new Map<string, Lane>();

  /**
   * @param maxBatch most commands per transaction (1 turns grouping off: each command
   *   gets a transaction of its own, exactly as {@link inOrgTransaction}).
   */
  constructor(store: Store, maxBatch = DEFAULT_GROUP_COMMIT_MAX) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
    this.#store = store;
    this.#max = maxBatch;
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
    const ids = [...new Set(typeof orgIds === 'string' ? [orgIds] : orgIds)].sort();
    const key = ids.join('\n');
    let lane = this.#lanes.get(key);
    if (!lane) {
      lane = { orgIds: ids, waiting: [], running: false };
      this.#lanes.set(key, lane);
    }
    return new Promise<T>((resolve, reject) => {
      lane.waiting.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!lane.running) {
        lane.running = true;
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
  }

  /** One command in a transaction of its own. */
  async #alone(orgIds: readonly string[], command: Command): Promise<void> {
    try {
      command.resolve(await inOrgTransaction(this.#store, orgIds, command.work));
    } catch (err) {
      command.reject(err);
    }
  }

  /** Several commands in one transaction, each in a savepoint. */
  async #together(orgIds: readonly string[], batch: readonly Command[]): Promise<void> {
    let outcomes: Outcome[] = [];
    try {
      await inOrgTransaction(this.#store, orgIds, async (tx) => {
        outcomes = []; // the transaction may run again (PostgreSQL retries)
        for (const command of batch) {
          await sql`savepoint group_command`.execute(tx);
          try {
            const value = await command.work(tx);
            await sql`release savepoint group_command`.execute(tx);
            outcomes.push({ ok: true, value });
          } catch (err) {
            await sql`rollback to savepoint group_command`.execute(tx);
            await sql`release savepoint group_command`.execute(tx);
            outcomes.push({ ok: false, err });
          }
        }
      });
    } catch {
      // The shared commit failed: nothing of the batch is stored. Each command gets its own try.
      for (const command of batch) await this.#alone(orgIds, command);
      return;
    }
    batch.forEach((command, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) command.resolve(outcome.value);
      else command.reject(outcome.err);
    });
  }
}

const committers = new WeakMap<Store, GroupCommitter>();

/**
 * The store's group committer, made on first use with `maxBatch` (later calls return the
 * same one, whatever they pass): one per store, so every ingest path of a server
 * (SMTP, `POST /v1/inbound/email`, channel webhooks) shares its batches.
 */
export function groupCommitter(store: Store, maxBatch?: number): GroupCommitter {
  let committer = committers.get(store);
  if (!committer) {
    committer = new GroupCommitter(store, maxBatch);
    committers.set(store, committer);
  }
  return committer;
}
