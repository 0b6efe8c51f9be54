/**
 * Commit notifications: write commands say which organizations' events they committed,
 * and readers that follow the change feed (the live stream) wake up and read what is
 * new from the store. Only "something committed" travels here, never the events
 * themselves: the store stays the one source, read in seq order. On SQLite this stays
 * in the process; PostgreSQL carries it between nodes (LISTEN/NOTIFY, see
 * postgres/notifications.ts).
 */
import { EventEmitter } from 'node:events';

/** The event name for every organization's commits (no organization id has this form). */
const ANY = '*';
/** Prefix of the event names of ephemeral signals. */
const SIGNAL = 'signal:';

export class CommitNotifier {
  readonly #emitter = new EventEmitter().setMaxListeners(0);
  #start: (() => void) | undefined;

  /** @param start called once, when the first listener subscribes (to connect a LISTEN session lazily). */
  constructor(start?: () => void) {
    this.#start = start;
  }

  /** Called after a transaction that appended events for `orgId` has committed. */
  committed(orgId: string): void {
    this.#emitter.emit(orgId);
    this.#emitter.emit(ANY, orgId);
  }

  /**
   * Calls `listener` after each commit of any organization (webhook dispatch).
   *
   * @returns a function that stops the calls.
   */
  onAnyCommit(listener: (orgId: string) => void): () => void {
    return this.onCommit(ANY, listener);
  }

  /** Called when an ephemeral signal (typing) for `orgId` arrives; `payload` is JSON text. */
  signal(orgId: string, payload: string): void {
    this.#emitter.emit(`${SIGNAL}${orgId}`, payload);
  }

  /**
   * Calls `listener` with each ephemeral signal for `orgId` (never stored).
   *
   * @returns a function that stops the calls.
   */
  onSignal(orgId: string, listener: (payload: string) => void): () => void {
    return this.onCommit(`${SIGNAL}${orgId}`, listener);
  }

  /**
   * Calls `listener` after each commit for `orgId`.
   *
   * @returns a function that stops the calls.
   */
  onCommit(orgId: string, listener: (orgId: string) => void): () => void {
    const start = this.#start;
    this.#start = undefined;
    start?.();
    this.#emitter.on(orgId, listener);
    return () => this.#emitter.off(orgId, listener);
  }
}
