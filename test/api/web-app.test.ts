/**
 * The web inbox served at `/` (api/web-app.ts), from a build folder made here: the shell
 * revalidated, hashed assets cached for good, the app's own page paths answered with
 * the shell, and the API's paths never.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, tempDir, type Harness } from '../helpers.js';

let h: Harness;
let noBuild: Harness;
const dirs: string[] = [];
const SHELL = '<!doctype html><html><head><script type="module" src="/assets/index-AbC123.js"></script></head><body><div id="root"></div></body></html>';

beforeAll(async () => {
  const dir = tempDir('switchboard-web-');
  const empty = tempDir('switchboard-web-empty-');
  dirs.push(dir, empty);
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), SHELL);
  fs.writeFileSync(path.join(dir, 'assets', 'index-AbC123.js'), 'console.log(1)');
  h = await harness({ webDir: dir });
  noBuild = await harness({ webDir: empty });
});
afterAll(async () => {
  await h?.close();
  await noBuild?.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const get = (url: string, accept = 'text/html,application/xhtml+xml,*/*;q=0.8', app = h.app) => app.inject({ method: 'GET', url, headers: { accept } });

describe('the web inbox at /', () => {
  it('serves the shell at / with no-cache, a Content-Security-Policy without inline scripts, and no Referer', async () => {
    const res = await get('/');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(SHELL);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-cache');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it('caches hashed assets for a year, immutable', async () => {
    const res = await get('/assets/index-AbC123.js', '*/*');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('console.log(1)');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('answers the app\'s page paths (/login, /c/<id>) with the shell, for a browser', async () => {
    for (const url of ['/login?token=sb_login_x', '/c/conv_01h455vb4pex5vsknk084sn02q', '/views/view_unread']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toBe(SHELL);
      expect(res.headers['content-security-policy'], url).toBeDefined();
    }
  });

  it('never answers an API or server path with the shell: those stay problems', async () => {
    for (const url of ['/v1/nothing', '/v1', '/mcp/x', '/assets/missing.js', '/openapi.json/x', '/media/x']) {
      const res = await get(url);
      expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(res.body, url).not.toBe(SHELL);
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/);
    }
    // A client that does not ask for HTML gets the problem too; so does a write.
    expect((await get('/c/x', 'application/json')).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'POST', url: '/c/x', headers: { accept: 'text/html' } })).statusCode).toBe(404);
  });

  it('serves the API alone when the folder holds no build', async () => {
    const res = await get('/', 'text/html', noBuild.app);
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await noBuild.request('GET', '/v1/conversations')).status).toBe(200);
  });
});
