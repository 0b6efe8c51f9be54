#!/usr/bin/env node
// Writes the server's OpenAPI document to packages/sdk/openapi.json (the SDK's types are
// generated from it: `npm run openapi` runs this after building, then the SDK's `generate`).
import path from 'node:path';
import { writeOpenApiDocument } from '../dist/api/openapi-document.js';

const file = path.resolve(import.meta.dirname, '../packages/sdk/openapi.json');
const changed = await writeOpenApiDocument(file);
console.log(`${path.relative(process.cwd(), file)} ${changed ? 'updated' : 'unchanged'}`);
