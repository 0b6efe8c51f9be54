/**
 * The parse pool's workers (email/parse-pool.ts) from the build: a parse over its budget
 * terminates its worker, and when that happens while a new worker is still loading its
 * module the process must live on (Node 20's synchronous `require()` of an ES module
 * aborted it; parse-worker-entry.cts). Runs in a child process, which is what such an
 * abort kills.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { TEST_STORE } from '../helpers.js';

const POOL = path.resolve(import.meta.dirname, '../../dist/email/parse-pool.js');

// The pool's workers load the build, not the sources; the store does not matter here.
it.skipIf(!fs.existsSync(POOL) || TEST_STORE !== 'sqlite')('survives workers terminated over their budget while they start', () => {
  const script = `
    const { ParsePool } = await import(${JSON.stringify(POOL)});
    const parts = Array.from({ length: 50000 }, (_, i) => '--b\\r\\nContent-Type: text/plain\\r\\n\\r\\n' + i + '\\r\\n').join('');
    const raw = Buffer.from('From: e@x.test\\r\\nSubject: Parts\\r\\nContent-Type: multipart/mixed; boundary="b"\\r\\n\\r\\n' + parts + '--b--\\r\\n');
    // How long a new worker takes to start, load its module and parse a small message.
    const probe = new ParsePool({ threads: 1 });
    const started = performance.now();
    await probe.parseWithin(Buffer.from('From: a@x.test\\r\\nSubject: hi\\r\\n\\r\\nhello\\r\\n'), 10000);
    const startup = performance.now() - started;
    await probe.close();
    let timedOut = 0;
    // Budgets across that time, so that some terminations land while a worker loads its module.
    for (let i = 0; i < 80; i++) {
      const pool = new ParsePool({ threads: 1 });
      const { parsed } = await pool.parseWithin(raw, Math.max(1, Math.round(startup * i / 80)));
      if (parsed.problems.join(' ').includes('longer than')) timedOut++;
      await pool.close();
    }
    console.log(JSON.stringify({ timedOut }));
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  expect(child.stderr).not.toMatch(/FATAL ERROR/);
  expect(child.status, child.stderr).toBe(0);
  // The budgets did cut parses short, so terminations happened.
  expect(JSON.parse(child.stdout.trim().split('\n').at(-1)!).timedOut).toBeGreaterThan(60);
});
