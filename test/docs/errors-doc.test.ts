/**
 * docs/errors.md lists exactly the codes the server can return, with their statuses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

describe('docs/errors.md', () => {
  it('lists every error code with its HTTP status, and no other', () => {
    const doc = fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(ERROR_CODES).map(([c, v]) => [c, v.status])));
    expect(rows.length).toBe(Object.keys(ERROR_CODES).length);
  });
});
