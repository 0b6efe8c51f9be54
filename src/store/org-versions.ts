/**
 * Current organization state versions (store/sequences.ts) for many concurrent
 * requests at the cost of one store read per organization per round trip.
 *
 * A request may use a version only if it was read by a query that started after the
 * request arrived: any commit the caller could have seen acknowledged before it is then
 * counted, on this node or any other. So callers never share a read that is already
 * running. They share the next one: while a read of an organization's version is in
 * flight, every caller that arrives waits for one more read, started when the running
 * one ends, and all of them get its answer. Under load (32 connections asking about one
 * organization) that is one read per round trip instead of one per request; when idle,
 * each caller gets its own read straight away, as before.
 */
import { orgVersion } from './sequences.js';
import type { Db } from './store.js';

export class OrgVersions {
  readonly #read: (orgId: string) => Promise<number>;
  /** The read of each organization's version that is running now. */
  readonly #running = new Map<string, Promise<number>>();
  /** The read queued behind it, shared by everyone who arrived while it ran. */
  readonly #queued = new Map<string, Promise<number>>();

  /**
   * @param source the store whose `org_sequences` are read, or (tests) the read itself:
   *   an organization id to its version as of the moment the read starts.
   */
  constructor(source: Db | ((orgId: string) => Promise<number>)) {
    this.#read = typeof source === 'function' ? source : (orgId) => orgVersion(source, orgId);
  }

  /**
   * The organization's version as of some moment after this call: at least as new as
   * every commit that finished before it. 0 for an organization that never wrote.
   *
   * @throws whatever the store read throws (for every caller sharing it).
   */
  current(orgId: string): Promise<number> {
    const queued = this.#queued.get(orgId);
    if (queued) return queued;
    const running = this.#running.get(orgId);
    if (!running) return this.#start(orgId);
    const next = running.then(() => {}, () => {}).then(() => {
      this.#queued.delete(orgId);
      return this.#start(orgId);
    });
    this.#queued.set(orgId, next);
    return next;
  }

  #start(orgId: string): Promise<number> {
    const read = this.#read(orgId).finally(() => {
      if (this.#running.get(orgId) === read) this.#running.delete(orgId);
    });
    this.#running.set(orgId, read);
    return read;
  }
}
