/**
 * The SDK's types are the generator's output for the committed document: regenerating
 * them (`npm run generate -w @switchboard/sdk`, part of `npm run openapi`) changes
 * nothing. test/api/openapi.test.ts checks the document against the server.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { TEST_STORE } from '../../../test/helpers.js';

const SDK = path.resolve(import.meta.dirname, '..');

// The same on every store: checked once, in the SQLite project.
it.skipIf(TEST_STORE !== 'sqlite')('src/generated/openapi.ts is openapi-typescript\'s output for openapi.json', async () => {
  const require = createRequire(path.join(SDK, 'package.json'));
  const cli = path.join(path.dirname(require.resolve('openapi-typescript/package.json')), 'bin', 'cli.js');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-generated-')), 'openapi.ts');
  try {
    await promisify(execFile)(process.execPath, [cli, 'openapi.json', '--output', out], { cwd: SDK });
    const committed = fs.readFileSync(path.join(SDK, 'src/generated/openapi.ts'), 'utf8');
    expect(committed === fs.readFileSync(out, 'utf8'), 'src/generated/openapi.ts is stale: run `npm run openapi`').toBe(true);
  } finally {
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  }
});
