/**
 * The OpenAPI document as a file: what `npm run openapi` writes to
 * `packages/sdk/openapi.json`, from which the SDK's types are generated
 * (packages/sdk/README.md, "Regenerating"). It is the document `GET /openapi.json`
 * serves, built from a throwaway app with the default configuration (a few descriptions
 * quote configured limits), so the file does not depend on who generates it.
 * test/api/openapi.test.ts fails when the committed file differs from it.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config.js';
import { openStore } from '../store/open.js';
import { buildApp } from './app.js';

/** The document's text as the file holds it: two-space JSON and a final newline. */
export function formatOpenApiDocument(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

/**
 * Builds the app on an empty SQLite store in a temporary folder (removed after) with the
 * default configuration, environment ignored, and returns its document.
 *
 * @returns the OpenAPI 3.1 document object.
 * @throws Error when the app cannot be built (a route without a permission, a schema error).
 */
export async function openApiDocument(): Promise<unknown> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'switchboard-openapi-'));
  try {
    const config = loadConfig({ dataDir, logLevel: 'silent' }, {});
    const store = await openStore(config);
    try {
      const app = await buildApp({ store, config, logger: false, isReady: () => true });
      await app.ready();
      const document = app.swagger();
      await app.close();
      return document;
    } finally {
      await store.close();
    }
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Writes {@link openApiDocument} to `file`.
 *
 * @param file the path to write (parent folders must exist).
 * @returns whether the file changed.
 */
export async function writeOpenApiDocument(file: string): Promise<boolean> {
  const text = formatOpenApiDocument(await openApiDocument());
  const before = await fs.readFile(file, 'utf8').catch(() => null);
  if (before === text) return false;
  await fs.writeFile(file, text);
  return true;
}
