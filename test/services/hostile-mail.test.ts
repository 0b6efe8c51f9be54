/**
 * Mail that used to fail every time (and so was never stored) or to stall the server:
 * deep HTML, a Cc of thousands, a parse that runs out of time, a parsed form the store
 * refuses, a truncated copy arriving before the complete one, and duplicates told from
 * their headers without a parse. Each is stored (raw bytes whole) or recognised, on both
 * stores.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParsedEmail } from '../../src/email/parse.js';
import { parseEmail } from '../../src/email/parse.js';
import { MAX_CONTACTS_PER_MESSAGE } from '../../src/services/ingest-email.js';
import { receiveEmail, type MessageParser } from '../../src/services/receive-email.js';
import { routeRecipient, type MailboxRoute } from '../../src/store/identities.js';
import { zone } from '../dns.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let route: MailboxRoute;
beforeAll(async () => {
  h = await harness();
  await identityWithMailbox(h, 'desk@hostile.test', 'desk');
  route = (await routeRecipient(h.store.db, 'desk@hostile.test'))!;
});
afterAll(async () => { await h.close(); });

const arrival = { transport: 'http' as const, clientIp: null, helo: null, mailFrom: null };
const receive = (raw: Buffer, parse?: MessageParser) => receiveEmail(h.store, h.config, [route], raw, arrival, { resolver: zone(), serverName: 'test', parse });
const messagesOf = async (conversation: string) => (await h.request('GET', `/v1/conversations/${conversation}/messages?limit=200`)).body.data;
const rawOf = async (id: string) => (await h.app.inject({ url: `/v1/messages/${id}/raw`, headers: { authorization: `Bearer ${h.key}` } })).rawPayload;

describe('mail that cannot be parsed whole is still stored', () => {
  it('stores HTML nested 3,000 levels deep, with the text it could render', async () => {
    const html = `<p>Before</p>${'<div>'.repeat(3_000)}deep${'</div>'.repeat(3_000)}`;
    const res = await inbound(h, Buffer.from(['From: a@x.test', 'To: desk@hostile.test', 'Message-ID: <deep@x.test>', 'Content-Type: text/html', '', html, ''].join('\r\n')));
    expect(res.status).toBe(201);
    const [m] = await messagesOf(res.body.results[0].conversation_id);
    expect(m.text).toContain('Before');
    expect(m.html.length).toBeGreaterThan(30_000);
  });

  it('stores a Cc of 20,000 addresses, with contacts for the first few and the whole header in the raw bytes', async () => {
    const cc = Array.from({ length: 20_000 }, (_, i) => `p${i}@cc.test`).join(', ');
    const raw = rawEmail({ from: 'boss@cc.test', to: 'desk@hostile.test', messageId: 'big-cc@cc.test', extraHeaders: [`Cc: ${cc}`] });
    const res = await inbound(h, raw);
    expect(res.status).toBe(201);
    const [m] = await messagesOf(res.body.results[0].conversation_id);
    expect(m.cc).toHaveLength(1_000);
    expect(m.parse_problems.join(' ')).toMatch(/Cc names 20000 addresses; the first 1000 are kept/);
    const contacts = await h.store.db.selectFrom('contact_addresses').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('org_id', '=', h.orgId).where('address', 'like', '%@cc.test').executeTakeFirstOrThrow();
    expect(Number(contacts.n)).toBe(MAX_CONTACTS_PER_MESSAGE);
    expect((await rawOf(m.id)).includes(Buffer.from('p19999@cc.test'))).toBe(true);
  });

  it('stores a message whose parsed form the store refuses as its headers and text, naming the failure', async () => {
    // A parser whose output cannot be written (an attachment that is not bytes) stands for any such failure.
    const broken: MessageParser = async (raw) => {
      const parsed = await parseEmail(raw);
      return { parsed: { ...parsed, attachments: [{ filename: 'x', contentType: 'application/x', content: { not: 'bytes' } as unknown as Buffer, contentId: null, disposition: null }] } };
    };
    const raw = rawEmail({ from: 'b@x.test', to: 'desk@hostile.test', messageId: 'unstorable@x.test', body: 'Keep me.' });
    const [out] = await receive(raw, broken);
    expect(out!.status).toBe('stored');
    const [m] = await messagesOf((out as { conversationId: string }).conversationId);
    expect(m.text).toContain('Keep me.');
    expect(m.parse_problems.join(' ')).toMatch(/stored as headers and text: storing its parsed form failed/);
    expect((await rawOf(m.id)).subarray(-raw.length).equals(raw)).toBe(true);
  });
});

describe('copies we hold already', () => {
  it('are told from their headers, without a parse', async () => {
    const raw = rawEmail({ from: 'c@x.test', to: 'desk@hostile.test', messageId: 'twice@x.test' });
    let parses = 0;
    const counting: MessageParser = async (r) => { parses++; return { parsed: await parseEmail(r) }; };
    expect((await receive(raw, counting))[0]!.status).toBe('stored');
    expect(parses).toBe(1);
    const again = await receive(raw, counting);
    expect(again[0]!.status).toBe('duplicate');
    expect(parses).toBe(1);
    // A copy that names an id the first did not is parsed: it links something new.
    const linking = rawEmail({ from: 'c@x.test', to: 'desk@hostile.test', messageId: 'twice@x.test', inReplyTo: 'elsewhere@x.test' });
    expect((await receive(linking, counting))[0]!.status).toBe('duplicate');
    expect(parses).toBe(2);
  });

  it('keep a complete copy that arrives after a truncated one, as its successor', async () => {
    const head = ['From: d@x.test', 'To: desk@hostile.test', 'Subject: Report', 'Message-ID: <cut@x.test>', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', ''];
    const whole = Buffer.from([...head, '--b', 'Content-Type: text/plain', '', 'The whole report.', '--b', 'Content-Type: text/plain', '', 'Part two.', '--b--', ''].join('\r\n'));
    const cut = whole.subarray(0, whole.indexOf('Part two.'));
    const first = (await inbound(h, cut)).body.results[0];
    expect(first.status).toBe('stored');
    const [truncated] = await messagesOf(first.conversation_id);
    expect(truncated.parse_problems).toContain('the message ends before its MIME structure does (truncated)');
    const second = (await inbound(h, whole)).body.results[0];
    expect(second.status).toBe('stored');
    expect(second.conversation_id).toBe(first.conversation_id);
    const messages = await messagesOf(first.conversation_id);
    expect(messages.at(-1)).toMatchObject({ supersedes: truncated.id, parse_problems: [] });
    expect(messages.at(-1).text).toContain('Part two.');
    // Now the complete copy is held: more copies are duplicates.
    expect((await inbound(h, whole)).body.results[0].status).toBe('duplicate');
    expect((await inbound(h, cut)).body.results[0].status).toBe('duplicate');
  });
});

describe('the parse budget (worker threads)', () => {
  const pool = path.resolve(import.meta.dirname, '../../dist/email/parse-pool.js');
  it.skipIf(!fs.existsSync(pool))('keeps a message whose parse runs out of time as its headers and text', async () => {
    const { ParsePool } = await import(pool) as typeof import('../../src/email/parse-pool.js');
    const workers = new ParsePool({ threads: 1, heapMb: 256 });
    try {
      // 100,000 MIME parts: parsing takes far longer than the budget given here.
      const parts = Array.from({ length: 100_000 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\n${i}\r\n`).join('');
      const raw = Buffer.from(`From: e@x.test\r\nTo: desk@hostile.test\r\nSubject: Parts\r\nMessage-ID: <parts@x.test>\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${parts}--b--\r\n`);
      const started = Date.now();
      const { parsed } = await workers.parseWithin(raw, 50);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(parsed.subject).toBe('Parts');
      expect(parsed.messageId).toBe('parts@x.test');
      expect(parsed.problems.join(' ')).toMatch(/parsing took longer than 50 ms/);
      // An ordinary message parses within an ordinary budget.
      const ok: { parsed: ParsedEmail } = await workers.parseWithin(rawEmail({ from: 'f@x.test', to: 'g@y.test', body: 'fine' }), 10_000);
      expect(ok.parsed.problems).toEqual([]);
      expect(ok.parsed.text).toContain('fine');
    } finally {
      await workers.close();
    }
  });
});
