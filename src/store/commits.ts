/**
 * Commit notifications inside one process: write commands say which organizations'
 * events they committed, and readers that follow the change feed (the live stream)
 * wake up and read what is new from the store. Only "something committed" travels
 * here, never the events themselves: the store stays the one source, read in seq order.
 */
import { EventEmitter } from 'node:events';

export class CommitNotifier {
  readonly #emitter = new EventEmitter().setMaxListeners(0);

  /** Called after a transaction that appended events for `orgId` has committed. */
  committed(orgId: string): void {
    this.#emitter.emit(orgId);
  }

  /**
   * Calls `listener` after each commit for `orgId`.
   *
   * @returns a function that stops the calls.
   */
  onCommit(orgId: string, listener: () => void): () => void {
    this.#emitter.on(orgId, listener);
    return () => this.#emitter.off(orgId, listener);
  }
}
