/**
 * Queries compiled to SQL once per dialect and shape, then run again with new values.
 *
 * Building a Kysely query and compiling it costs in proportion to its nodes: the view
 * counts' one statement of eight conditional sums took about 40 µs to build and compile
 * against 18 µs for SQLite to run it (docs/benchmarks.md, "Where the time goes"). Its SQL
 * text depends only on which conditions each view has, not on their values, so it is
 * compiled once per such shape and its parameters are swapped for each call, as a
 * prepared statement's are (the store's statement cache then finds the same text).
 *
 * The values reach the database as parameters, never in the SQL text: a value the
 * compiled query does not hold as a parameter is refused when the template is made.
 */
import { CompiledQuery, type Compilable } from 'kysely';
import { LRUCache } from 'lru-cache';
import { dialectOf, type Db } from './store.js';

/**
 * Templates kept, least recently used dropped beyond it. A caller's shapes may follow
 * its input (the view counts' follow the saved views of each organization), so they are
 * not bounded by the code alone; a dropped one is compiled again when next needed.
 */
export const TEMPLATE_CACHE_SIZE = 1_000;

/** Stands for the value at `index` while a template is compiled. */
class Slot {
  constructor(readonly index: number) {}
}

/** A compiled query whose parameters are values of the call (a {@link Slot}) or constants. */
interface Template {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

/** Templates by dialect and shape. */
const templates = new LRUCache<string, Template>({ max: TEMPLATE_CACHE_SIZE });

/**
 * Runs the query `build` makes from `values`, compiled once per dialect and `shape`.
 *
 * @param shape what decides the SQL text: two calls with the same shape must build the
 *   same SQL, with `value(i)` in the same places.
 * @param values the values of this call, as `value(i)` gives them to `build`.
 * @param build makes the query; `value(i)` stands for `values[i]` and must be used where
 *   Kysely makes a parameter of it (a compared or selected value), never as SQL text.
 *   Everything else in the query is kept from its first build: a value of the call must
 *   come through `value`, never from the caller's scope.
 * @returns the rows, as Kysely's `execute` of the built query would.
 * @throws Error when the compiled query does not hold every value as a parameter.
 */
export async function runTemplate<R>(
  db: Db, shape: string, values: readonly unknown[], build: (value: (index: number) => unknown) => Compilable<R>,
): Promise<R[]> {
  const key = `${dialectOf(db)}\n${shape}`;
  let template = templates.get(key);
  if (!template) {
    const compiled = build((index) => new Slot(index)).compile();
    const used = new Set(compiled.parameters.filter((p) => p instanceof Slot).map((p) => (p as Slot).index));
    const missing = values.map((_, i) => i).filter((i) => !used.has(i));
    if (missing.length) throw new Error(`runTemplate(${shape}): values ${missing.join(', ')} are not parameters of the query`);
    template = { sql: compiled.sql, parameters: compiled.parameters };
    templates.set(key, template);
  }
  const parameters = template.parameters.map((p) => (p instanceof Slot ? values[p.index] : p));
  return (await db.executeQuery<R>(CompiledQuery.raw(template.sql, parameters))).rows;
}
