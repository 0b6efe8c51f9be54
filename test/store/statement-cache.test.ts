/**
 * The prepared-statement cache hands back one statement per SQL text and drops the
 * least recently used beyond its size; the rows it builds from raw arrays are the
 * objects better-sqlite3 itself builds, whatever the columns, also after the table changes.
 */
import BetterSqlite3 from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cachingDatabase } from '../../src/store/sqlite/statement-cache.js';

describe('cachingDatabase', () => {
  it('reuses statements by SQL text and evicts the least recently used', () => {
    const sqlite = new BetterSqlite3(':memory:');
    const db = cachingDatabase(sqlite, 2);
    const a = db.prepare('select 1');
    expect(db.prepare('select 1')).toBe(a);
    const b = db.prepare('select 2');
    expect(db.prepare('select 1')).toBe(a); // touch: 2 is now the oldest
    db.prepare('select 3'); // evicts 2
    expect(db.prepare('select 1')).toBe(a);
    expect(db.prepare('select 2')).not.toBe(b);
    db.close();
    expect(sqlite.open).toBe(false);
  });

  it('runs statements with fresh parameters each time', () => {
    const sqlite = new BetterSqlite3(':memory:');
    const db = cachingDatabase(sqlite);
    db.prepare('create table t (x integer)').run([]);
    for (const x of [1, 2, 3]) db.prepare('insert into t (x) values (?)').run([x]);
    expect(db.prepare('select x from t order by x').all([])).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }]);
    db.close();
  });

  it('property: rows are the objects better-sqlite3 builds, whatever the column names, aliases and values', () => {
    // Not `__proto__`: better-sqlite3 makes such a column's value the row's prototype, which no two rows compare equal by.
    const name = fc.oneof(fc.constantFrom('id', 'a b', 'é', '"q"', "it's", 'constructor', 'toString', '0', '1e3', ''), fc.string({ maxLength: 8 }))
      .filter((n) => n !== '__proto__');
    const value = fc.oneof(fc.constant(null), fc.integer(), fc.double({ noNaN: true }), fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)));
    fc.assert(fc.property(fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 12 }), fc.nat(3), (columns, rows) => {
      const sqlite = new BetterSqlite3(':memory:');
      const db = cachingDatabase(sqlite);
      const select = `select ${columns.map(([n], i) => `? as "${n.replaceAll('"', '""')}" /* ${i} */`).join(', ')} from (select 1 union all select 2 union all select 3 union all select 4) limit ${rows}`;
      const params = columns.map(([, v]) => v);
      const expected = sqlite.prepare(select).all(params);
      expect(db.prepare(select).all(params)).toEqual(expected);
      expect(db.prepare(select).all(params)).toEqual(expected); // the cached statement, again
      expect([...(db.prepare(select) as unknown as BetterSqlite3.Statement).iterate(params)]).toEqual(expected);
      sqlite.close();
    }), { numRuns: 200 });
  });

  it('builds the new shape when the table a cached statement reads changes', () => {
    const sqlite = new BetterSqlite3(':memory:');
    const db = cachingDatabase(sqlite);
    db.prepare('create table t (x integer)').run([]);
    db.prepare('insert into t (x) values (?)').run([1]);
    expect(db.prepare('select * from t').all([])).toEqual([{ x: 1 }]);
    sqlite.exec("alter table t add column y text default 'new'");
    expect(db.prepare('select * from t').all([])).toEqual([{ x: 1, y: 'new' }]);
    sqlite.exec('alter table t drop column x');
    expect(db.prepare('select * from t').all([])).toEqual([{ y: 'new' }]);
    db.close();
  });

  it('keeps no statement across clear()', () => {
    const sqlite = new BetterSqlite3(':memory:');
    const db = cachingDatabase(sqlite);
    const a = db.prepare('select 1 as one');
    db.clear();
    expect(db.prepare('select 1 as one')).not.toBe(a);
    db.close();
  });
});
