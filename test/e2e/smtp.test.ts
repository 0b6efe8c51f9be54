/**
 * End to end over real sockets: the server from `startServer` (HTTP + SMTP listeners on
 * ephemeral ports), nodemailer as the sending MTA, an `smtp-server` instance as the
 * outbound relay, and real corpus mail. Everything is read back through the HTTP API.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import nodemailer from 'nodemailer';
import PostalMime from 'postal-mime';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { CORPUS, freePort, freshDatabase, HAS_CORPUS, NO_CORPUS_REASON, rawEmail, tempDir, NO_LOAD_SHEDDING } from '../helpers.js';

if (!HAS_CORPUS) console.warn(NO_CORPUS_REASON);

const MAX_BYTES = 64 * 1024;
const MAILBOX = 'agent@switchboard.test';
const MAILBOX_NAME = 'Switchboard Agent';
const CORPUS_DIR = path.join(CORPUS, 'notmuch-default');

/** Two threads of notmuch-default, in their notmuch reference order (root first). */
const MAC_THREAD = ['0018.eml', '0021.eml', '0022.eml', '0023.eml'];
const INTRO_THREAD = ['0013.eml', '0011.eml', '0034.eml'];
/**
 * Three consecutive replies of an LKML thread whose earlier messages never arrive: the
 * conversation starts at a `Re:` message and the chain goes Re: → RE: → Re:.
 */
const LKML_DIR = path.join(CORPUS, 'notmuch-lkml');
const LKML_MIDWAY = ['0085.eml', '0086.eml', '0087.eml'];
const LKML_ORIGINAL_SUBJECT = '[PATCH v2 5/7] powerpc/85xx: Add MChk handler for SRIO port';

interface CorpusMail {
  file: string;
  raw: Buffer;
  messageId: string;
  from: string;
  subject: string;
}

/** Message-IDs by file, from the corpus manifest (not from anything the server says). */
function manifestIds(dir = CORPUS_DIR): Map<string, string> {
  const lines = fs.readFileSync(path.join(dir, 'manifest.tsv'), 'utf8').trim().split('\n').slice(1);
  return new Map(lines.map((l) => {
    const [file, , id] = l.split('\t');
    return [file!, id!];
  }));
}

function loadMail(file: string, ids: Map<string, string>, dir = CORPUS_DIR): CorpusMail {
  const raw = fs.readFileSync(path.join(dir, file));
  const head = raw.toString('latin1').split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const header = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? '';
  const from = /<([^>]+)>/.exec(header('From'))?.[1] ?? header('From');
  return { file, raw, messageId: ids.get(file)!, from: from.toLowerCase(), subject: header('Subject') };
}

interface Relayed { from: string; to: string[]; raw: Buffer }

describe.skipIf(!HAS_CORPUS)('SMTP in, HTTP API, SMTP relay out (real sockets)', () => {
  let server: RunningServer;
  let dataDir: string;
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  let key: string;
  let base: string;
  let mailboxId: string;
  let relay: SMTPServer;
  let relayPort: number;
  const relayed: Relayed[] = [];
  const ids = HAS_CORPUS ? manifestIds() : new Map<string, string>();
  const mac = HAS_CORPUS ? MAC_THREAD.map((f) => loadMail(f, ids)) : [];
  const intro = HAS_CORPUS ? INTRO_THREAD.map((f) => loadMail(f, ids)) : [];
  const lkmlIds = HAS_CORPUS ? manifestIds(LKML_DIR) : new Map<string, string>();
  const lkml = HAS_CORPUS ? LKML_MIDWAY.map((f) => loadMail(f, lkmlIds, LKML_DIR)) : [];
  let macConversation: string;

  const api = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: any = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: parsed, contentType: res.headers.get('content-type') ?? '' };
  };

  /** Waits until `check` holds (the outbound worker runs after the commit), at most 10 s. */
  const until = async (check: () => boolean | Promise<boolean>) => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the outbound worker');
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const smtpClient = () => nodemailer.createTransport({
    host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true,
    connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 10_000,
  });

  const deliver = async (raw: Buffer, from: string, to: string[]) => {
    const transport = smtpClient();
    try {
      return await transport.sendMail({ envelope: { from, to }, raw });
    } finally {
      transport.close();
    }
  };

  const deliverError = async (raw: Buffer, from: string, to: string[]): Promise<any> => {
    try {
      await deliver(raw, from, to);
    } catch (err) {
      return err;
    }
    throw new Error('delivery was expected to be refused');
  };

  /** Everything the store holds, as seen through the API: conversations and message counts. */
  const inventory = async () => {
    const list = await api('GET', '/v1/conversations?limit=200');
    expect(list.status).toBe(200);
    const rows = await server.store.db.selectFrom('raw_messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return {
      conversations: list.body.data.length as number,
      messages: (list.body.data as any[]).reduce((s, c) => s + c.message_count, 0) as number,
      raw: Number(rows.n),
    };
  };

  const messagesOf = async (conversationId: string) => {
    const res = await api('GET', `/v1/conversations/${conversationId}/messages?limit=200`);
    expect(res.status).toBe(200);
    return res.body.data as any[];
  };

  beforeAll(async () => {
    dataDir = tempDir('switchboard-e2e-smtp-');
    database = await freshDatabase();
    const config = loadConfig({
      dataDir, databaseUrl: database.url, host: '127.0.0.1', port: 0, smtpHost: '127.0.0.1', smtpPort: 0, ...NO_LOAD_SHEDDING,
      maxMessageBytes: MAX_BYTES, logLevel: 'silent', outboundAllowPrivate: true, // the relay is on loopback
    }, {});
    server = await startServer(config);
    expect(server.firstRun).not.toBeNull();
    key = server.firstRun!.apiKey;
    expect(server.port).toBeGreaterThan(0);
    expect(server.smtpPort).toBeGreaterThan(0);
    base = `http://127.0.0.1:${server.port}`;

    relay = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          relayed.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()));
    relayPort = (relay.server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    if (relay) await new Promise<void>((resolve) => relay.close(() => resolve()));
    if (server) await server.close();
    await database?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('is ready and rejects requests without the key', async () => {
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    const anon = await fetch(`${base}/v1/conversations`);
    expect(anon.status).toBe(401);
  });

  it('creates an identity and a mailbox over HTTP', async () => {
    const identity = await api('POST', '/v1/identities', { handle: 'agent' });
    expect(identity.status).toBe(201);
    const mailbox = await api('POST', '/v1/mailboxes', { identity_id: identity.body.id, address: MAILBOX, display_name: MAILBOX_NAME });
    expect(mailbox.status).toBe(201);
    expect(mailbox.body.address).toBe(MAILBOX);
    expect(mailbox.body.smtp).toBeNull();
    mailboxId = mailbox.body.id;
  });

  it('threads two interleaved corpus threads delivered over SMTP like notmuch does', async () => {
    // Interleave the threads so that arrival order alone cannot group them.
    const order = [mac[0]!, intro[0]!, mac[1]!, intro[1]!, mac[2]!, intro[2]!, mac[3]!];
    for (const m of order) {
      const info = await deliver(m.raw, m.from, [MAILBOX]);
      expect(info.accepted).toEqual([MAILBOX]);
      expect(info.rejected).toEqual([]);
      expect(info.response).toMatch(/^250 /);
    }

    const list = await api('GET', '/v1/conversations');
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(2);
    const byRoot = new Map<string, any>();
    for (const conv of list.body.data) {
      const messages = await messagesOf(conv.id);
      expect(messages).toHaveLength(conv.message_count);
      byRoot.set(messages[0].headers.message_id, { conv, messages });
    }

    const macThread = byRoot.get(mac[0]!.messageId);
    const introThread = byRoot.get(intro[0]!.messageId);
    expect(macThread).toBeDefined();
    expect(introThread).toBeDefined();
    // Oldest first: delivery order within each thread, Message-IDs as sent.
    expect(macThread.messages.map((m: any) => m.headers.message_id)).toEqual(mac.map((m) => m.messageId));
    expect(introThread.messages.map((m: any) => m.headers.message_id)).toEqual(intro.map((m) => m.messageId));
    for (const m of [...macThread.messages, ...introThread.messages]) {
      expect(m.direction).toBe('inbound');
      expect(m.account_id).toBe(mailboxId);
    }
    // Each reply names its parent (In-Reply-To of the corpus files).
    expect(macThread.messages.slice(1).map((m: any) => m.headers.in_reply_to)).toEqual(mac.slice(0, -1).map((m) => m.messageId));
    expect(macThread.conv.subject).toBe(mac[0]!.subject);
    expect(macThread.conv.counterpart).toBe(mac[0]!.from);
    expect(macThread.messages.map((m: any) => m.from.address)).toEqual(mac.map((m) => m.from));
    macConversation = macThread.conv.id;
  });

  it('stores a message delivered twice once', async () => {
    const before = await inventory();
    const again = mac[1]!;
    const info = await deliver(again.raw, again.from, [MAILBOX]);
    expect(info.accepted).toEqual([MAILBOX]);
    expect(await inventory()).toEqual(before);
  });

  it('finds mail delivered over SMTP by the words of its text (search words made by the parse workers)', async () => {
    const raw = rawEmail({
      from: 'finder@elsewhere.test', to: MAILBOX, subject: 'Findable', messageId: 'findable@elsewhere.test',
      body: 'The zeppelins arrive on Tuesday; the manifest lists quinces.',
    });
    expect((await deliver(raw, 'finder@elsewhere.test', [MAILBOX])).response).toMatch(/^250 /);
    for (const word of ['zeppelins', 'quinces', 'ZEPPELINS']) {
      const found = await api('GET', `/v1/conversations?q=${word}`);
      expect(found.status).toBe(200);
      expect(found.body.data.map((c: any) => c.counterpart), word).toEqual(['finder@elsewhere.test']);
    }
    expect((await api('GET', '/v1/conversations?q=zeppelinz')).body.data).toEqual([]);
  });

  it('refuses unknown recipients with 550 and stores nothing (never an open relay)', async () => {
    const before = await inventory();
    const raw = rawEmail({ from: 'stranger@elsewhere.test', to: 'nobody@switchboard.test', messageId: 'unknown-rcpt@elsewhere.test' });
    for (const rcpt of ['nobody@switchboard.test', 'someone@example.org']) {
      const err = await deliverError(raw, 'stranger@elsewhere.test', [rcpt]);
      expect(err.responseCode).toBe(550);
    }
    expect(await inventory()).toEqual(before);
  });

  it('delivers to the known recipient when another recipient is refused', async () => {
    const before = await inventory();
    const raw = rawEmail({ from: 'mixed@elsewhere.test', to: MAILBOX, subject: 'Mixed recipients', messageId: 'mixed-rcpt@elsewhere.test' });
    const info = await deliver(raw, 'mixed@elsewhere.test', [MAILBOX, 'ghost@switchboard.test']);
    expect(info.accepted).toEqual([MAILBOX]);
    expect(info.rejected).toEqual(['ghost@switchboard.test']);
    const after = await inventory();
    expect(after).toEqual({ conversations: before.conversations + 1, messages: before.messages + 1, raw: before.raw + 1 });
  });

  it('refuses a message over the size limit with 552 and stores nothing, but accepts one under it', async () => {
    const before = await inventory();
    const line = `${'x'.repeat(76)}\r\n`;
    const big = rawEmail({
      from: 'big@elsewhere.test', to: MAILBOX, subject: 'Too big', messageId: 'too-big@elsewhere.test',
      body: line.repeat(Math.ceil((MAX_BYTES + 16 * 1024) / line.length)),
    });
    expect(big.length).toBeGreaterThan(MAX_BYTES);
    const err = await deliverError(big, 'big@elsewhere.test', [MAILBOX]);
    expect(err.responseCode).toBe(552);
    expect(await inventory()).toEqual(before);

    const fits = rawEmail({
      from: 'big@elsewhere.test', to: MAILBOX, subject: 'Fits', messageId: 'fits@elsewhere.test',
      body: line.repeat(Math.floor((MAX_BYTES - 8 * 1024) / line.length)),
    });
    expect(fits.length).toBeLessThan(MAX_BYTES);
    const info = await deliver(fits, 'big@elsewhere.test', [MAILBOX]);
    expect(info.accepted).toEqual([MAILBOX]);
    expect((await inventory()).messages).toBe(before.messages + 1);
  });

  it('replies by conversation id through the mailbox relay with correct threading headers', async () => {
    const patched = await api('PATCH', `/v1/mailboxes/${mailboxId}`, { smtp: { host: '127.0.0.1', port: relayPort } });
    expect(patched.status).toBe(200);
    expect(patched.body.smtp).toMatchObject({ host: '127.0.0.1', port: relayPort, secure: false });

    const sent = await api('POST', `/v1/conversations/${macConversation}/messages`, { text: 'Thanks, a getline shim it is.' });
    // Accepted at once, queued; the outbound worker hands it to the relay right after.
    expect(sent.status).toBe(202);
    expect(sent.body.conversation_id).toBe(macConversation);
    expect(sent.body.message.direction).toBe('outbound');
    expect(sent.body.message.status).toBe('queued');
    await until(() => relayed.length === 1);
    await until(async () => (await messagesOf(macConversation)).at(-1).status === 'sent');

    const lastInbound = mac[mac.length - 1]!;
    const delivered = relayed[0]!;
    const email = await PostalMime.parse(delivered.raw);
    const bracketed = (v: string | undefined) => (v ?? '').match(/<[^>]+>/g)?.map((s) => s.slice(1, -1)) ?? [];

    expect(email.subject).toBe(`Re: ${mac[0]!.subject}`);
    expect(bracketed(email.inReplyTo)).toEqual([lastInbound.messageId]);
    const references = bracketed(email.references);
    expect(references[references.length - 1]).toBe(lastInbound.messageId);
    for (const m of mac) expect(references).toContain(m.messageId);
    expect(email.from?.address).toBe(MAILBOX);
    expect(email.from?.name).toBe(MAILBOX_NAME);
    // The reply answers the latest inbound message: to its sender, the list it went to on Cc.
    expect(email.to?.map((a) => a.address)).toEqual([lastInbound.from]);
    expect(email.cc?.map((a) => a.address)).toEqual(['notmuch@notmuchmail.org']);
    expect(email.text).toContain('Thanks, a getline shim it is.');

    expect(delivered.from).toBe(MAILBOX);
    expect([...delivered.to].sort()).toEqual([lastInbound.from, 'notmuch@notmuchmail.org'].sort());

    // The stored outbound message carries the Message-ID that went out.
    const sentId = bracketed(email.messageId)[0];
    expect(sentId).toBeTruthy();
    const messages = await messagesOf(macConversation);
    const last = messages[messages.length - 1];
    expect(last.id).toBe(sent.body.message.id);
    expect(last.headers.message_id).toBe(sentId);
    expect(last.status).toBe('sent');
    expect(messages.map((m: any) => m.headers.message_id)).toEqual([...mac.map((m) => m.messageId), sentId]);
  });

  it('a second reply stays "Re: <original>" and answers the first reply', async () => {
    const firstReply = await PostalMime.parse(relayed[0]!.raw);
    const sent = await api('POST', `/v1/conversations/${macConversation}/messages`, { text: 'One more thing.' });
    expect(sent.status).toBe(202);
    await until(() => relayed.length === 2);
    const email = await PostalMime.parse(relayed[1]!.raw);
    expect(email.subject).toBe(`Re: ${mac[0]!.subject}`);
    expect(email.inReplyTo).toBe(firstReply.messageId);
    const refs = email.references?.match(/<[^>]+>/g) ?? [];
    expect(refs[refs.length - 1]).toBe(firstReply.messageId);
    for (const m of mac) expect(refs).toContain(`<${m.messageId}>`);
    expect(email.to?.map((a) => a.address)).toEqual([mac[mac.length - 1]!.from]);
  });

  it('a reply in a thread joined midway ("Re:", "RE:" subjects) is "Re: <original>", never "Re: Re:"', async () => {
    // The input really is what this test is about.
    expect(lkml.map((m) => m.subject)).toEqual([`Re: ${LKML_ORIGINAL_SUBJECT}`, `RE: ${LKML_ORIGINAL_SUBJECT}`, `Re: ${LKML_ORIGINAL_SUBJECT}`]);
    const before = (await api('GET', '/v1/conversations?limit=200')).body.data.map((c: any) => c.id);
    for (const m of lkml) expect((await deliver(m.raw, m.from, [MAILBOX])).accepted).toEqual([MAILBOX]);
    const after = (await api('GET', '/v1/conversations?limit=200')).body.data;
    const added = after.filter((c: any) => !before.includes(c.id));
    expect(added).toHaveLength(1);
    const conv = added[0];
    expect(conv.message_count).toBe(3);
    expect((await messagesOf(conv.id)).map((m: any) => m.headers.message_id)).toEqual(lkml.map((m) => m.messageId));

    const count = relayed.length;
    const sent = await api('POST', `/v1/conversations/${conv.id}/messages`, { text: 'Acked.' });
    expect(sent.status).toBe(202);
    await until(() => relayed.length === count + 1);
    const email = await PostalMime.parse(relayed[count]!.raw);
    expect(email.subject).toBe(`Re: ${LKML_ORIGINAL_SUBJECT}`);
    const last = lkml[lkml.length - 1]!;
    expect(email.inReplyTo).toBe(`<${last.messageId}>`);
    const refs = email.references?.match(/<[^>]+>/g) ?? [];
    expect(refs[refs.length - 1]).toBe(`<${last.messageId}>`);
    for (const m of lkml) expect(refs).toContain(`<${m.messageId}>`);
    // Ancestors that never arrived but that the thread named are kept in the chain.
    expect(refs).toContain('<20100308191005.GE4324@amak.tundra.com>');
    expect(email.to?.map((a) => a.address)).toEqual([last.from]);
    expect(email.from?.address).toBe(MAILBOX);
  });

  it('queues a reply while the relay is down: 202, then deferred with the reason; delivered once when retried with the relay back', async () => {
    const down = await freePort();
    const patched = await api('PATCH', `/v1/mailboxes/${mailboxId}`, { smtp: { host: '127.0.0.1', port: down } });
    expect(patched.status).toBe(200);
    const relayedBefore = relayed.length;

    const idem = { 'idempotency-key': 'e2e-relay-down-1' };
    const accepted = await api('POST', `/v1/conversations/${macConversation}/messages`, { text: 'Is anyone there?' }, idem);
    expect(accepted.status).toBe(202);
    const id = accepted.body.message.id;
    expect(accepted.body.message.status).toBe('queued');

    // The worker tries, the relay is unreachable: deferred, with the connection error, and retried later.
    await until(async () => (await messagesOf(macConversation)).find((m: any) => m.id === id).status === 'deferred');
    const deferred = (await messagesOf(macConversation)).find((m: any) => m.id === id);
    expect(deferred.error).toMatch(/ECONNREFUSED|connect/i);
    const queue = await api('GET', '/v1/outbound?status=deferred');
    expect(queue.body.data).toEqual([expect.objectContaining({ message_id: id, state: 'deferred', attempts: 1, last_error: deferred.error })]);
    expect(Date.parse(queue.body.data[0].next_attempt_at) - Date.now()).toBeLessThanOrEqual(30_000);
    const statuses = await api('GET', `/v1/conversations/${macConversation}/events?types=message_status&order=desc&limit=1`);
    expect(statuses.body.data[0].data).toMatchObject({ message_id: id, status: 'deferred' });
    expect(relayed).toHaveLength(relayedBefore);

    // The same send again under its Idempotency-Key is the first answer, not a second message.
    const again = await api('POST', `/v1/conversations/${macConversation}/messages`, { text: 'Is anyone there?' }, idem);
    expect(again.body.message.id).toBe(id);

    // The relay is back; the operator retries now instead of waiting for the backoff.
    expect((await api('PATCH', `/v1/mailboxes/${mailboxId}`, { smtp: { host: '127.0.0.1', port: relayPort } })).status).toBe(200);
    expect((await api('POST', `/v1/messages/${id}/retry`)).status).toBe(202);
    await until(async () => (await messagesOf(macConversation)).find((m: any) => m.id === id).status === 'sent');
    expect(relayed).toHaveLength(relayedBefore + 1);
    const mail = await PostalMime.parse(relayed.at(-1)!.raw);
    expect(mail.text).toContain('Is anyone there?');
    expect(mail.inReplyTo).toMatch(/^<.+>$/);
    expect((await api('GET', '/v1/outbound')).body.data).toEqual([]);
    expect((await api('POST', `/v1/messages/${id}/retry`)).body.code).toBe('message_not_retryable');
  });

  it('marks a reply the relay refuses for good (550) failed at once, with the relay\'s text', async () => {
    const refusing = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error('5.1.1 <x>: Recipient address rejected: User unknown'), { responseCode: 550 }));
      },
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (refusing.server.address() as net.AddressInfo).port;
      expect((await api('PATCH', `/v1/mailboxes/${mailboxId}`, { smtp: { host: '127.0.0.1', port } })).status).toBe(200);
      const accepted = await api('POST', `/v1/conversations/${macConversation}/messages`, { text: 'Hello?' });
      expect(accepted.status).toBe(202);
      const id = accepted.body.message.id;
      await until(async () => (await messagesOf(macConversation)).find((m: any) => m.id === id).status === 'failed');
      const failed = (await messagesOf(macConversation)).find((m: any) => m.id === id);
      expect(failed.error).toContain('Recipient address rejected: User unknown');
      const entry = (await api('GET', '/v1/outbound?status=failed')).body.data.find((e: any) => e.message_id === id);
      expect(entry).toMatchObject({ state: 'failed', attempts: 1, next_attempt_at: null });
    } finally {
      await new Promise<void>((resolve) => refusing.close(() => resolve()));
      await api('PATCH', `/v1/mailboxes/${mailboxId}`, { smtp: { host: '127.0.0.1', port: relayPort } });
    }
  });
});
