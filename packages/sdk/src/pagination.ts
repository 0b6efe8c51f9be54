/**
 * Auto-pagination over keyset-paged lists: `for await (const c of sb.conversations.list())`
 * walks every page, following each page's cursor until the server says there is no
 * more, and yields every item once, in the server's order. `.page()` fetches one page,
 * `.pages()` walks page by page.
 */
import type { Page } from './types.js';

/** Reads one page at a position (undefined: the start). */
export type PageReader<P, C> = (cursor: C | undefined) => Promise<P>;

/**
 * A list that can be walked item by item ({@link Symbol.asyncIterator}) or page by page.
 * Nothing is fetched until it is iterated or {@link Paginator.page} is called; each
 * iteration starts again from the first page.
 *
 * @typeParam T an item.
 * @typeParam P a page (holding `data: T[]`).
 * @typeParam C the position of a page (a keyset cursor, a feed seq).
 */
export class Paginator<T, P extends { readonly data: readonly T[] }, C = string> implements AsyncIterable<T> {
  readonly #read: PageReader<P, C>;
  readonly #next: (page: P) => C | undefined;
  readonly #start: C | undefined;

  /**
   * @param read fetches the page at a position.
   * @param next the position after a page, or undefined when it is the last.
   * @param start where to begin (the caller's `cursor` or `after`).
   */
  constructor(read: PageReader<P, C>, next: (page: P) => C | undefined, start?: C) {
    this.#read = read;
    this.#next = next;
    this.#start = start;
  }

  /** The first page (at the start position). @throws SwitchboardError when the call fails. */
  page(): Promise<P> {
    return this.#read(this.#start);
  }

  /**
   * Every page in turn, until one is the last. A cursor that does not move ends the walk
   * (a server answering the same position again would otherwise loop for ever).
   *
   * @throws SwitchboardError when a page's call fails (the pages before it were yielded).
   */
  async *pages(): AsyncGenerator<P, void, undefined> {
    let cursor = this.#start;
    for (;;) {
      const page = await this.#read(cursor);
      yield page;
      const next = this.#next(page);
      if (next === undefined || next === cursor) return;
      cursor = next;
    }
  }

  /** Every item of every page, in order. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.data;
  }

  /**
   * Collects items into an array.
   *
   * @param limit stop after this many (all by default: mind long lists).
   */
  async toArray(limit = Infinity): Promise<T[]> {
    const out: T[] = [];
    if (limit <= 0) return out;
    for await (const item of this) {
      out.push(item);
      if (out.length >= limit) break;
    }
    return out;
  }
}

/** The next position of a keyset page: its `next_cursor` while `has_more`. */
export function nextCursor(page: Page<unknown>): string | undefined {
  return page.has_more && page.next_cursor ? page.next_cursor : undefined;
}

/**
 * A paginator over a keyset-paged list.
 *
 * @param read fetches the page at a cursor (undefined: the first).
 * @param cursor where to start (a `next_cursor` from before).
 */
export function keysetPaginator<T>(read: PageReader<Page<T>, string>, cursor?: string): Paginator<T, Page<T>> {
  return new Paginator<T, Page<T>>(read, nextCursor, cursor);
}
