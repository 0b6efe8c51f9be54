/**
 * Named prepared statements for the `pg` pool: a connection prepares a parameterized
 * statement the second time it runs its text, and from then on sends only Bind and Execute
 * (PostgreSQL protocol, "Extended Query", postgresql.org/docs/current/protocol-flow.html).
 * The server parses the text once per connection and, after five runs, may keep a generic
 * plan instead of planning every call (`PREPARE`, "Notes": plan_cache_mode). On the
 * 100,000-conversation benchmark store that cut the server's CPU per view-counts request
 * by about 40% (0.245 to 0.149 ms); the list page's, mostly execution, changed within the
 * noise (docs/benchmarks.md, "Where the time goes").
 *
 * Kysely runs every query as `client.query(text, values)` with a new text only where the
 * statement's shape changes (a multi-row insert's row count, an `in` list's length), so a
 * text seen once is sent unnamed as before; each connection keeps at most
 * {@link DEFAULT_CAPACITY} statements and deallocates the least recently used beyond that.
 * Statements without parameters (`begin`, `commit`, DDL) and texts longer than
 * {@link MAX_PREPARED_TEXT} are never named, so a connection holds at most a few MB of texts.
 */
import { LRUCache } from 'lru-cache';
import pg from 'pg';

/** Most prepared statements a connection keeps (the default of pgx's statement cache is 512). */
export const DEFAULT_CAPACITY = 256;
/** Texts a connection remembers having run once, to prepare them on their second run. */
const SEEN_TEXTS = 1_024;
/**
 * Longest text named or remembered, in characters: longer ones are multi-row statements
 * whose text changes with their row count (an import's batch), which would only fill memory.
 */
export const MAX_PREPARED_TEXT = 8_192;

/** The driver's bookkeeping of a connection's named statements (pg/lib/connection.js), cleared with a deallocation. */
interface ParsedStatements {
  readonly parsedStatements: Record<string, string>;
  readonly submittedNamedStatements?: Record<string, string>;
}

type QueryCallback = (err: Error | null, result?: pg.QueryResult) => void;

/**
 * Whether a query failed because its prepared plan went stale: a schema change (another
 * node's migration) changed the result columns of a plan cached before it ("cached plan
 * must not change result type", SQLSTATE 0A000). The connection forgets the statement and
 * prepares it again on its next run; a transaction that hit it may run again.
 */
export function isStalePlan(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: string; message?: string };
  return code === '0A000' && /cached plan/.test(message ?? '');
}

/**
 * A `pg.Client` class for `new pg.Pool({ Client })` whose connections prepare the
 * parameterized statements they run more than once.
 *
 * @param capacity most prepared statements per connection (at least 1).
 */
export function preparingClient(capacity = DEFAULT_CAPACITY): typeof pg.Client {
  return class PreparingClient extends pg.Client {
    /** Texts run once: a second run prepares them. */
    readonly #seen = new LRUCache<string, true>({ max: SEEN_TEXTS });
    /** Prepared texts and their statement names, least recently used first out. */
    readonly #prepared = new LRUCache<string, string>({
      max: Math.max(1, capacity),
      dispose: (name, _text, reason) => {
        if (reason === 'evict' || reason === 'delete') this.#deallocate(name);
      },
    });
    #names = 0;

    override query(...args: unknown[]): any {
      const [text, values, callback] = args as [unknown, unknown, QueryCallback | undefined];
      if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || text.length > MAX_PREPARED_TEXT) {
        return (super.query as (...a: unknown[]) => unknown)(...args);
      }
      let name = this.#prepared.get(text);
      if (name === undefined && this.#seen.has(text)) {
        // Names are never reused: one whose deallocation failed cannot clash with a later one.
        name = `sb_${++this.#names}`;
        this.#prepared.set(text, name);
        this.#seen.delete(text);
      } else if (name === undefined) {
        this.#seen.set(text, true);
      }
      if (name === undefined) return (super.query as (...a: unknown[]) => unknown)(text, values, callback);
      const config = { name, text, values };
      // A stale plan fails once: forget the statement, so the next run prepares it again.
      const forgetOn = (err: unknown) => {
        if (isStalePlan(err)) this.#prepared.delete(text);
      };
      if (callback) return super.query(config, (err: Error | null, result: pg.QueryResult) => { if (err) forgetOn(err); callback(err, result); });
      return super.query(config).catch((err: unknown) => { forgetOn(err); throw err; });
    }

    /** Frees a statement on the server (queued behind the running query; a failure leaves it until the connection closes). */
    #deallocate(name: string): void {
      const connection = (this as unknown as { connection?: ParsedStatements }).connection;
      if (connection) {
        delete connection.parsedStatements[name];
        delete connection.submittedNamedStatements?.[name];
      }
      super.query(`deallocate ${name}`).catch(() => {});
    }
  };
}
