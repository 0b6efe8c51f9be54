/**
 * The web inbox (web/, built by `npm run build` into web/dist) served at `/` by
 * `@fastify/static`: hashed files under `/assets/` cached for a year (`immutable`), the
 * app shell (`index.html`) revalidated on every load, and any other page path the app
 * routes itself (`/login`, `/c/<id>`, …) answered with the shell.
 *
 * Paths of the API and of the server's own pages are never the shell: an unknown one
 * stays a `404` problem.
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The build of this installation: `<repository>/web/dist`. */
export const DEFAULT_WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist');

/** Path prefixes that belong to the server, never to the app's own routes. */
const SERVER_PATHS = ['/v1', '/mcp', '/docs', '/media', '/metrics', '/openapi.json', '/healthz', '/readyz', '/bench', '/assets'];

/**
 * The app's Content-Security-Policy: its own scripts and styles only, no plugins, not
 * framed. Mail is shown in sandboxed `srcdoc` frames, which inherit this policy and add
 * a stricter one of their own; images may come from anywhere only because a person may
 * ask to see a message's remote images (the frame's own policy blocks them until then).
 */
const APP_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob: https: http:",
  "connect-src 'self'", "frame-src 'self' about:", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

/** Headers of every file of the app; `immutable` caching for the hashed ones under `assets/`. */
function appHeaders(reply: FastifyReply, hashed: boolean): void {
  reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
  reply.header('content-security-policy', APP_CSP);
  reply.header('x-content-type-options', 'nosniff');
  // A sign-in link's token is in the URL of /login: never sent on as a Referer.
  reply.header('referrer-policy', 'no-referrer');
}

/** Answers a request the routes did not with the app shell when it is a page of the app; returns whether it did. */
export type AppShell = (request: FastifyRequest, reply: FastifyReply) => boolean;

/**
 * Serves the built app from `dir` when it holds an `index.html`.
 *
 * @returns the shell fallback for the not-found handler, or null when there is no build
 *   (the server then answers the API alone).
 */
export async function installWebApp(app: FastifyInstance, dir: string): Promise<AppShell | null> {
  if (!fs.existsSync(path.join(dir, 'index.html'))) return null;
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    // One route per file found at start (the build is fixed while the server runs), so a
    // path that is not a file reaches the not-found handler below.
    wildcard: false,
    index: ['index.html'],
    schemaHide: true,
    setHeaders: (reply, file) => appHeaders(reply, path.relative(dir, file).split(path.sep)[0] === 'assets'),
  });
  return (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    const urlPath = request.url.split('?')[0]!;
    if (SERVER_PATHS.some((p) => urlPath === p || urlPath.startsWith(`${p}/`))) return false;
    if (!/\btext\/html\b|\*\/\*/.test(request.headers.accept ?? '')) return false;
    void reply.sendFile('index.html', dir);
    return true;
  };
}
