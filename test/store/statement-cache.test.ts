/**
 * The prepared-statement cache hands back one statement per SQL text and drops the
 * least recently used beyond its size.
 */
import BetterSqlite3 from 'better-sqlite3';
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
});
