/**
 * First paint of the web inbox (issue 17) on the inbox benchmark's store (100,000
 * conversations, bench/inbox-store.mjs), in Debian's Chromium driven by playwright-core,
 * against `switchboard serve` in its own process serving the built app (web/dist).
 *
 * Measured, BENCH_WEB_RUNS times each (default 7), interleaved, medians reported:
 * - **baseline**: the app's sign-in screen (the same shell and scripts, no data) in a new
 *   browser profile: navigation to the sign-in form's first paint;
 * - **sign-in**: a one-time link (`switchboard login-link`) in a new browser profile:
 *   navigation until the first page of the conversation list is on screen (exchange of
 *   the token, session, views with their counts, the list);
 * - **reload**: the inbox of a signed-in profile loaded again (assets from the HTTP cache):
 *   navigation until the list is on screen.
 * "On screen" is the first `listitem` of the list named "Conversations" visible, timed from
 * the navigation's start by the page's own clock (`performance.now()`), so the browser's
 * start-up is not counted (each tab opens `about:blank` first, so neither is its renderer
 * process's); first contentful paint is reported beside it.
 *
 * Writes the section "## Web inbox first paint" of docs/benchmarks.md.
 * Env: BENCH_WEB_RUNS (7), CHROMIUM_PATH (/usr/bin/chromium), and the scale variables of
 * bench/inbox-store.mjs.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import { currentSection, log, machine, median, replaceSection, REPORT, ROOT, run, startServe } from './common.mjs';
import { ensureInboxStore, scaleFromEnv } from './inbox-store.mjs';

const env = process.env;
const RUNS = Number(env.BENCH_WEB_RUNS ?? 7);
const CHROMIUM = env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CORPUS = path.resolve(env.BENCH_CORPUS ?? path.join(ROOT, '..', 'shared', 'corpus'));
const SECTION = '## Web inbox first paint';
const TARGET_MS = 1_000;
const BIN = path.join(ROOT, 'bin', 'switchboard.js');

/** In the page: ms from the navigation's start until the list's first item is visible, and the first contentful paint. */
async function timeToList(page) {
  await page.getByRole('list', { name: 'Conversations' }).getByRole('listitem').first().waitFor({ state: 'visible', timeout: 30_000 });
  return page.evaluate(() => ({
    list: performance.now(),
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
  }));
}

async function main() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium`);
  if (!fs.existsSync(path.join(ROOT, 'web', 'dist', 'index.html'))) throw new Error('web/dist not built: npm run build');
  const scale = scaleFromEnv(env);
  const store = await ensureInboxStore({ kind: 'sqlite', scale, corpusDir: CORPUS });
  log(`web: store ${store.key} (${store.conversations} conversations)`);
  // The owner member a link signs in as (a store made before members had one gets it here).
  await run(process.execPath, [BIN, 'init', '--data-dir', store.dataDir, '--json']);
  const server = await startServe(store, { LOG_LEVEL: 'warn', RATE_LIMIT_AUTH_FAILURES: '1000' });
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
  });
  const results = { baseline: [], signIn: [], signInFcp: [], reload: [] };
  try {
    const link = async () => JSON.parse((await run(process.execPath, [BIN, 'login-link', '--data-dir', store.dataDir, '--base-url', server.base, '--json'])).stdout).url;
    // One untimed round first: the server's caches and the OS page cache warm as a person's would after the first visit.
    for (let i = 0; i <= RUNS; i++) {
      const timed = i > 0;
      const anonymous = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const a = await anonymous.newPage();
      // A blank page first: the tab's renderer process starts before the timed navigation, not during it.
      await a.goto('about:blank');
      await a.goto(server.base);
      await a.getByRole('button', { name: /sign-in link/i }).waitFor({ state: 'visible', timeout: 30_000 });
      const baseline = await a.evaluate(() => performance.now());
      await anonymous.close();

      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const url = await link();
      await page.goto('about:blank');
      await page.goto(url);
      const signIn = await timeToList(page);
      await page.reload();
      const reload = await timeToList(page);
      await context.close();
      if (timed) {
        results.baseline.push(baseline);
        results.signIn.push(signIn.list);
        if (signIn.fcp !== null) results.signInFcp.push(signIn.fcp);
        results.reload.push(reload.list);
      }
      log(`web: run ${i}${timed ? '' : ' (warm-up)'}: sign-in screen ${baseline.toFixed(0)} ms, inbox after sign-in ${signIn.list.toFixed(0)} ms (FCP ${signIn.fcp?.toFixed(0)}), reload ${reload.list.toFixed(0)} ms`);
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  const chromiumVersion = (await run(CHROMIUM, ['--version'])).stdout.trim();
  const scripts = fs.readdirSync(path.join(ROOT, 'web', 'dist', 'assets')).filter((f) => f.endsWith('.js'))
    .map((f) => fs.readFileSync(path.join(ROOT, 'web', 'dist', 'assets', f)));
  const scriptKiB = Math.round(scripts.reduce((n, b) => n + b.length, 0) / 1024);
  const gzipKiB = Math.round(scripts.reduce((n, b) => n + zlib.gzipSync(b).length, 0) / 1024);
  const lines = [
    SECTION, '',
    '`npm run bench:web` (bench/web.mjs), which rewrites this section.', '',
    `- **Date:** ${new Date().toISOString().slice(0, 10)}`,
    `- **Machine:** ${machine()}; ${chromiumVersion}, headless, driven by playwright-core`,
    '- **Command:** `npm run bench:web`',
    `- **Store:** the inbox benchmark's SQLite store, ${store.conversations.toLocaleString('en-US')} conversations (\`${store.key}\`), served by \`switchboard serve\` in its own process with the built app (web/dist).`,
    `- **Runs:** ${RUNS}, after one untimed warm-up; medians. Times are from the navigation's start to the first conversation of the list visible, by the page's clock.`, '',
    '| Measure | Median | Target |',
    '|---|---:|---:|',
    `| Baseline: the sign-in screen (same app, no data), new profile | ${m.baseline.toFixed(0)} ms | |`,
    `| Inbox after a sign-in link, new profile (token exchange, views and counts, first list page) | ${m.signIn.toFixed(0)} ms (${(m.signIn / m.baseline).toFixed(2)}× the baseline); first contentful paint ${m.signInFcp.toFixed(0)} ms | under ${TARGET_MS} ms: **${m.signIn < TARGET_MS ? 'met' : 'not met'}** |`,
    `| Inbox reloaded, signed in (assets cached) | ${m.reload.toFixed(0)} ms (${(m.reload / m.baseline).toFixed(2)}× the baseline) | under ${TARGET_MS} ms: **${m.reload < TARGET_MS ? 'met' : 'not met'}** |`,
    '',
    `The baseline is the app's own start: its script (${scriptKiB} KiB, ${gzipKiB} KiB gzipped) fetched, parsed and run, then the sign-in form drawn. `
      + 'The inbox asks for one page of 50 conversations, the views and their counts, whatever the size of the store; a reload fetches no asset again.',
    '',
    `Every run: baseline ${results.baseline.map((x) => x.toFixed(0)).join(', ')} ms; after sign-in ${results.signIn.map((x) => x.toFixed(0)).join(', ')} ms; reload ${results.reload.map((x) => x.toFixed(0)).join(', ')} ms.`,
    '',
  ];
  const before = currentSection(SECTION);
  fs.writeFileSync(REPORT, replaceSection(fs.readFileSync(REPORT, 'utf8'), SECTION, lines));
  log(`web: ${REPORT} ${before.length ? 'updated' : 'section added'}`);
}

await main();
