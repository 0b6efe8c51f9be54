/**
 * One shared reader of each organization's change feed per process, for the live
 * stream's subscribers.
 *
 * A commit notification wakes every subscriber of the organization; if each then read
 * the store, a thousand subscribers would cost a thousand queries per commit. Instead
 * the organization's {@link OrgTail} reads what is new once (single-flight) and keeps the
 * last {@link TAIL_EVENTS} events in memory, with each event's JSON encoded once, and
 * subscribers that are caught up are served from it. A subscriber further behind (a
 * resume from an old Last-Event-ID) reads the store itself until it reaches the tail.
 *
 * The tail holds events exactly as the store returns them, contiguous in `seq`
 * (store/sequences.ts: seqs are gap-free and commit-ordered), so serving from it is the
 * same as reading the store.
 */
import type { EventType, TimelineEvent } from '../domain/events.js';
import { listOrgEventsAfter } from '../store/timeline.js';
import type { Store } from '../store/store.js';

/** Events kept in memory per organization with subscribers. */
export const TAIL_EVENTS = 2048;
/** Events read per query when refreshing the tail. */
const REFRESH_BATCH = 500;
/** A poll (no notification seen, e.g. another process wrote to SQLite) refreshes at most this often, ms. */
const POLL_MIN_MS = 1_000;

/** An event with its JSON encoding (computed once, shared by all subscribers). */
export interface FeedItem {
  readonly event: TimelineEvent;
  readonly json: string;
}

export interface FeedFilter {
  readonly types?: readonly EventType[];
  readonly conversationId?: string;
  /**
   * Only this identity's visible conversations (identity-scoped keys). Events do not
   * carry their identity, so such reads go to the store instead of the shared tail.
   */
  readonly identityId?: string;
}

export interface FeedRead {
  /** Matching events after the asked position, oldest first. */
  readonly items: FeedItem[];
  /** The position to read after next time: every event up to it was considered. */
  readonly through: number;
}

/** A live subscription to one organization's feed. */
export interface FeedSubscription {
  /** Up to `limit` events after `after` that match `filter`. */
  read(after: number, limit: number, filter: FeedFilter): Promise<FeedRead>;
  /** Asks for a refresh without a notification (commits by another process). */
  poll(): void;
  /** Ends the subscription. */
  close(): void;
}

function matches(e: TimelineEvent, f: FeedFilter): boolean {
  return (f.types === undefined || f.types.length === 0 || f.types.includes(e.type))
    && (f.conversationId === undefined || e.conversation_id === f.conversationId
      || (e.type === 'merged' && e.data.into === f.conversationId));
}

class OrgTail {
  readonly #store: Store;
  readonly #orgId: string;
  readonly #capacity: number;
  readonly #wakers = new Set<() => void>();
  readonly #unsubscribe: () => void;
  /** Contiguous events `(#start, #head]`. */
  #items: FeedItem[] = [];
  #start = -1;
  #head = -1;
  #stale = true;
  #refreshing: Promise<void> | null = null;
  #refreshedAt = 0;
  /** The wake-up of the subscribers scheduled after a commit, if any. */
  #waking: NodeJS.Immediate | null = null;

  constructor(store: Store, orgId: string, capacity: number) {
    this.#store = store;
    this.#orgId = orgId;
    this.#capacity = capacity;
    this.#unsubscribe = store.commits.onCommit(orgId, () => {
      this.#stale = true;
      // Subscribers are woken on the next turn of the event loop, once for the commits of
      // this one: the writer that committed (an SMTP 250, an HTTP answer) goes first rather
      // than behind a thousand streams' reads and writes.
      if (this.#waking) return;
      this.#waking = setImmediate(() => {
        this.#waking = null;
        for (const wake of this.#wakers) wake();
      });
    });
  }

  get size(): number {
    return this.#wakers.size;
  }

  add(wake: () => void): void {
    this.#wakers.add(wake);
  }

  remove(wake: () => void): void {
    this.#wakers.delete(wake);
  }

  dispose(): void {
    this.#unsubscribe();
    if (this.#waking) clearImmediate(this.#waking);
  }

  poll(): void {
    if (Date.now() - this.#refreshedAt >= POLL_MIN_MS) this.#stale = true;
  }

  async read(after: number, limit: number, filter: FeedFilter): Promise<FeedRead> {
    if (this.#stale || this.#refreshing) await this.#refresh();
    if (after < this.#start || filter.identityId !== undefined) {
      // Behind the tail (or scoped to an identity): everything up to the head seen now
      // has committed, so a store read that comes back short has considered all of it.
      const head = this.#head;
      const rows = await listOrgEventsAfter(this.#store.db, {
        orgId: this.#orgId, afterSeq: after, limit, types: filter.types, conversationId: filter.conversationId, identityId: filter.identityId,
      });
      const items = rows.map((event) => ({ event, json: JSON.stringify(event) }));
      const last = rows.at(-1)?.seq ?? after;
      return { items, through: rows.length < limit ? Math.max(last, head) : last };
    }
    const items: FeedItem[] = [];
    let through = Math.max(after, this.#head);
    for (let i = Math.max(0, after - this.#start); i < this.#items.length; i++) {
      const item = this.#items[i]!;
      if (!matches(item.event, filter)) continue;
      items.push(item);
      if (items.length === limit) {
        through = item.event.seq;
        break;
      }
    }
    return { items, through };
  }

  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        while (this.#stale) {
          this.#stale = false;
          await this.#catchUp();
        }
        this.#refreshedAt = Date.now();
      } catch (err) {
        this.#stale = true;
        throw err;
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  async #catchUp(): Promise<void> {
    if (this.#head < 0) {
      const row = await this.#store.db.selectFrom('org_sequences').select('last_seq').where('org_id', '=', this.#orgId).executeTakeFirst();
      this.#head = this.#start = Number(row?.last_seq ?? 0);
      return;
    }
    for (;;) {
      const rows = await listOrgEventsAfter(this.#store.db, { orgId: this.#orgId, afterSeq: this.#head, limit: REFRESH_BATCH });
      for (const event of rows) this.#items.push({ event, json: JSON.stringify(event) });
      if (rows.length > 0) this.#head = rows.at(-1)!.seq;
      const excess = this.#items.length - this.#capacity;
      if (excess > 0) {
        this.#items.splice(0, excess);
        this.#start = this.#items[0]!.event.seq - 1;
      }
      if (rows.length < REFRESH_BATCH) return;
    }
  }
}

/** The per-process registry of organization tails. */
export class LiveFeed {
  readonly #store: Store;
  readonly #tails = new Map<string, OrgTail>();
  readonly #capacity: number;

  /** @param options.tailEvents events kept per organization (default {@link TAIL_EVENTS}). */
  constructor(store: Store, options: { tailEvents?: number } = {}) {
    this.#store = store;
    this.#capacity = options.tailEvents ?? TAIL_EVENTS;
  }

  /**
   * Subscribes to `orgId`'s feed; `wake` is called after each commit for it (then
   * `read` returns what is new).
   */
  subscribe(orgId: string, wake: () => void): FeedSubscription {
    let tail = this.#tails.get(orgId);
    if (!tail) {
      tail = new OrgTail(this.#store, orgId, this.#capacity);
      this.#tails.set(orgId, tail);
    }
    tail.add(wake);
    const t = tail;
    return {
      read: (after, limit, filter) => t.read(after, limit, filter),
      poll: () => t.poll(),
      close: () => {
        t.remove(wake);
        if (t.size === 0 && this.#tails.get(orgId) === t) {
          t.dispose();
          this.#tails.delete(orgId);
        }
      },
    };
  }
}
