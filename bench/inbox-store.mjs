/**
 * The inbox benchmark's store: BENCH_CONVERSATIONS conversations (default 100,000) of
 * BENCH_MESSAGES_PER_CONVERSATION messages on average (default 10, so 1,000,000), in one
 * organization with one mailbox, generated from the real corpus (../shared/corpus).
 *
 * Importing a million messages through SMTP or `switchboard import` would take hours
 * (~650 messages/s), so the rows are written directly, in large transactions: the
 * organization, its key, the identity and the mailbox through the project's services,
 * then contacts, conversations, participants, events, messages and the Message-ID index
 * with prepared statements (SQLite) or one `insert ... select from unnest(...)` per table
 * and batch (PostgreSQL). Each conversation's summary columns are the project's own fold
 * (`applyEvent` over its events, `summaryColumns`), so the projections agree with the
 * timelines exactly as if every event had gone through `appendEvents`.
 *
 * The corpus is parsed once with the project's parser; conversation i cycles through it
 * with every Message-ID rewritten (`<i.j.original>`) and every external address made
 * unique to the conversation (`local.i@domain`), so each conversation has its own
 * counterpart, contact and participants. Inbox state varies as in a working inbox: 30%
 * unread, 70% read of which 4 in 7 archived (40% overall), 10% starred, 25% assigned to
 * one of five members, labels from a skewed set (`customers` on 20%). Not generated:
 * attachments, raw message bytes (`raw_messages`: the list and counts never read them),
 * timers, blocked senders.
 *
 * The store is cached under `.bench/inbox/`, keyed by the scale, the generator version
 * and the corpus files, so a rerun reuses it. The schema's migrations are not part of the
 * key: `switchboard serve` brings a cached store up to date on start, as it would a
 * user's, so a new migration costs one migration run, not a regenerated store. Bump
 * GENERATOR_VERSION when a migration changes a column the generator writes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { BENCH, ROOT, log, prng } from './common.mjs';

/** Bump when the generated data changes shape: cached stores are then regenerated. */
const GENERATOR_VERSION = 2;
const CACHE = path.join(BENCH, 'inbox');
const DAY_MS = 24 * 3600 * 1000;
const MAILBOX = 'inbox@bench.switchboard.test';
const MEMBERS = 5;
/** Label → share of conversations carrying it (independently). */
const LABELS = {
  customers: 0.2, newsletters: 0.1, support: 0.15, billing: 0.08, partners: 0.05, urgent: 0.03, hiring: 0.02, legal: 0.01,
};
const SHARES = { unread: 0.3, archived: 0.4, starred: 0.1, assigned: 0.25 };

const dist = (p) => import(path.join(ROOT, 'dist', p));

/** Scale from the environment: BENCH_CONVERSATIONS, BENCH_MESSAGES_PER_CONVERSATION. */
export function scaleFromEnv(env = process.env, prefix = 'BENCH') {
  return {
    conversations: Number(env[`${prefix}_CONVERSATIONS`] ?? env.BENCH_CONVERSATIONS ?? 100_000),
    messagesPerConversation: Number(env.BENCH_MESSAGES_PER_CONVERSATION ?? 10),
  };
}

// ---------------------------------------------------------------------------------------
// The corpus

/** The corpus's `.eml` files, sorted, relative to `dir`. */
function corpusFiles(dir) {
  if (!fs.existsSync(dir)) throw new Error(`corpus not found at ${dir} (set BENCH_CORPUS)`);
  const out = [];
  for (const sub of fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    for (const f of fs.readdirSync(path.join(dir, sub)).filter((n) => n.endsWith('.eml')).sort()) out.push(path.join(sub, f));
  }
  if (out.length === 0) throw new Error(`no .eml files under ${dir}`);
  return out;
}

/** Every corpus message parsed once (the project's parser and snippet), in file order. */
async function loadCorpus(dir) {
  const { parseEmail } = await dist('email/parse.js');
  const { snippetOf } = await dist('domain/snippet.js');
  const out = [];
  for (const f of corpusFiles(dir)) {
    const p = await parseEmail(fs.readFileSync(path.join(dir, f)));
    if (!p.from) continue;
    out.push({
      messageId: p.messageId ?? `${path.basename(f, '.eml')}@corpus.invalid`,
      subject: p.subject, from: p.from, cc: p.cc.slice(0, 2), text: p.text, html: p.html,
      snippet: snippetOf(p.text, p.html), problems: p.problems,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Cache keys

function cacheKey(kind, scale, corpusDir) {
  const files = corpusFiles(corpusDir).map((f) => `${f}:${fs.statSync(path.join(corpusDir, f)).size}`);
  const digest = crypto.createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 10);
  return `${kind}-v${GENERATOR_VERSION}-c${scale.conversations}-m${scale.messagesPerConversation}-${digest}`;
}

// ---------------------------------------------------------------------------------------
// Rows


/** Column lists (and PostgreSQL array types for `unnest`) of the tables written in bulk. */
const TABLES = {
  contacts: { id: 'text', org_id: 'text', display_name: 'text', created_at: 'text', updated_at: 'text' },
  contact_addresses: { org_id: 'text', channel: 'text', address: 'text', contact_id: 'text' },
  conversations: {
    id: 'text', org_id: 'text', identity_id: 'text', account_id: 'text', channel: 'text', subject: 'text',
    counterpart: 'text', contact_id: 'text', created_at: 'text', subject_key: 'text',
    message_count: 'int', unread_count: 'int', latest_text: 'text', latest_at: 'text', latest_direction: 'text',
    latest_has_media: 'int', last_event_at: 'text', labels: 'text', archived: 'int', outbound_count: 'int',
    no_reply_at: 'text', no_reply_since: 'text', last_no_reply_at: 'text', sla_due_at: 'text', sla_target: 'text',
    overdue: 'int', starred: 'int', assigned_to: 'text', is_blocked: 'int',
  },
  conversation_participants: { conversation_id: 'text', org_id: 'text', address: 'text', domain: 'text' },
  events: { id: 'text', seq: 'bigint', org_id: 'text', conversation_id: 'text', type: 'text', at: 'text', data: 'text', created_at: 'text' },
  messages: {
    id: 'text', org_id: 'text', conversation_id: 'text', event_id: 'text', direction: 'text', status: 'text', error: 'text',
    provider_message_id: 'text', created_at: 'text', updated_at: 'text',
  },
  email_message_ids: { org_id: 'text', identity_id: 'text', message_id: 'text', conversation_id: 'text', stored: 'int' },
};

const emptyBatch = () => Object.fromEntries(Object.keys(TABLES).map((t) => [t, []]));

function unique(address, i) {
  const at = address.lastIndexOf('@');
  return at === -1 ? `${address}.${i.toString(36)}@bench.invalid` : `${address.slice(0, at)}.${i.toString(36)}${address.slice(at)}`;
}

/** How many messages conversation i has: M ± d in pairs (1 to 2M-1), so the total is exactly N·M for even N. */
function messageCount(i, scale) {
  const m = scale.messagesPerConversation;
  if (m <= 1) return 1;
  if (scale.conversations % 2 === 1 && i === scale.conversations - 1) return m;
  const d = Math.floor(prng(0x9e3779b9 ^ (i >> 1))() * m);
  return i % 2 === 0 ? m + d : m - d;
}

/**
 * Appends conversation i's rows to `batch`. `ctx` holds the org, identity, mailbox,
 * members, the key acting, the reference time and the sequence counter; `lib` the
 * project's functions (fold, ids, subject key).
 */
function addConversation(batch, i, scale, corpus, ctx, lib) {
  const r = prng(i + 1);
  const C = corpus.length;
  const root = corpus[(i * 7919) % C];
  const count = messageCount(i, scale);
  const counterpart = { address: unique(root.from.address, i), name: root.from.name };
  const cc = root.cc.filter((a) => a.address !== root.from.address).map((a) => ({ address: unique(a.address, i), name: a.name }));
  const mailbox = { address: ctx.mailbox, name: null };
  const unread = r() < SHARES.unread;
  const archived = !unread && r() < SHARES.archived / (1 - SHARES.unread);
  const starred = r() < SHARES.starred;
  const assignee = r() < SHARES.assigned ? ctx.members[Math.floor(r() * ctx.members.length)] : null;
  const labels = Object.entries(LABELS).filter(([, share]) => r() < share).map(([l]) => l);

  // Message times: the last one between 6 hours and a year ago (recent activity denser),
  // earlier ones 10 minutes to ~2.5 days apart.
  const times = new Array(count);
  times[count - 1] = ctx.now - 6 * 3600_000 - Math.floor(r() * r() * 365 * DAY_MS);
  for (let j = count - 2; j >= 0; j--) times[j] = times[j + 1] - Math.floor(600_000 * 2 ** (r() * 8.5));
  const iso = (t) => new Date(t).toISOString();
  const by = { member_id: null, key_id: ctx.keyId };

  const conversationId = lib.newId('conv');
  const contacts = [counterpart, ...cc].map((a) => ({ a, id: lib.newId('ct') }));
  for (const { a, id } of contacts) {
    batch.contacts.push([id, ctx.orgId, a.name, iso(times[0]), iso(times[0])]);
    batch.contact_addresses.push([ctx.orgId, 'email', a.address, id]);
    batch.conversation_participants.push([conversationId, ctx.orgId, a.address, lib.domainOf(a.address)]);
  }

  const events = []; // [at ms, body, message row fields | null]
  const ids = [];
  const readAfter = unread && count > 1 ? Math.floor(r() * (count - 1)) : -1; // unread: a read before the last inbound message
  for (let j = 0; j < count; j++) {
    const body = corpus[(((i * 7919) % C) + j * 31) % C];
    const inbound = j === 0 || (unread && j === count - 1) || r() < 0.55;
    const id = `${i.toString(36)}.${j}.${body.messageId}`;
    const messageId = lib.newId('msg');
    const subject = root.subject === null ? null : j === 0 || /^re:/i.test(root.subject) ? root.subject : `Re: ${root.subject}`;
    const data = {
      message_id: messageId,
      direction: inbound ? 'inbound' : 'outbound',
      channel: 'email',
      account_id: ctx.accountId,
      from: inbound ? counterpart : mailbox,
      to: [inbound ? mailbox : counterpart],
      cc,
      reply_to: [],
      subject,
      text: body.text,
      html: body.html,
      snippet: body.snippet,
      media: [],
      provider_message_id: id,
      status: inbound ? 'delivered' : 'sent',
      headers: { message_id: id, in_reply_to: ids.at(-1) ?? null, references: ids.slice(-5) },
      sent_at: iso(times[j]),
      parse_problems: body.problems,
    };
    events.push([times[j], { type: 'message', data }, { messageId, inbound, id }]);
    ids.push(id);
    if (j === 0) for (const label of labels) events.push([times[0] + 30_000, { type: 'label_added', data: { label } }, null]);
    if (j === readAfter) events.push([times[j] + 60_000, { type: 'read', data: { updated_count: -1, by } }, null]);
  }
  const last = times[count - 1];
  if (!unread) events.push([last + 60_000 + Math.floor(r() * 3 * 3600_000), { type: 'read', data: { updated_count: -1, by } }, null]);
  if (archived) events.push([last + 4 * 3600_000, { type: 'archived', data: {} }, null]);
  if (starred) events.push([last + 120_000, { type: 'starred', data: { by } }, null]);
  if (assignee) events.push([last + 90_000, { type: 'assigned', data: { assigned_to: assignee, by } }, null]);
  events.sort((a, b) => a[0] - b[0]); // stable: ties keep the order above

  let summary = lib.emptySummary(iso(times[0]));
  for (const [t, body, msg] of events) {
    const at = iso(t);
    if (body.type === 'read') body.data.updated_count = summary.unread_count;
    summary = lib.applyEvent(summary, { ...body, at });
    const eventId = lib.newId('evt');
    batch.events.push([eventId, ctx.seq++, ctx.orgId, conversationId, body.type, at, JSON.stringify(body.data), ctx.nowIso]);
    if (msg) {
      batch.messages.push([msg.messageId, ctx.orgId, conversationId, eventId, body.data.direction, body.data.status, null, msg.id, ctx.nowIso, ctx.nowIso]);
      batch.email_message_ids.push([ctx.orgId, ctx.identityId, msg.id, conversationId, 1]);
    }
  }
  const row = {
    id: conversationId, org_id: ctx.orgId, identity_id: ctx.identityId, account_id: ctx.accountId, channel: 'email',
    subject: root.subject, counterpart: counterpart.address, contact_id: contacts[0].id, created_at: iso(times[0]),
    subject_key: lib.subjectKey(root.subject), ...lib.summaryColumns(summary), is_blocked: 0,
  };
  batch.conversations.push(Object.keys(TABLES.conversations).map((c) => row[c] ?? null));
  return count;
}

// ---------------------------------------------------------------------------------------
// Writers: one transaction per batch

function sqliteWriter(file) {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF'); // a half-written cache is thrown away: meta.json is written last
  db.pragma('cache_size = -262144');
  const statements = Object.fromEntries(Object.entries(TABLES).map(([t, cols]) => [t, db.prepare(
    `insert into ${t} (${Object.keys(cols).join(', ')}) values (${Object.keys(cols).map(() => '?').join(', ')})`,
  )]));
  const write = db.transaction((batch) => {
    for (const [t, rows] of Object.entries(batch)) for (const row of rows) statements[t].run(row);
  });
  return {
    write: async (batch) => write(batch),
    async finish(orgId, lastSeq) {
      db.prepare('insert into org_sequences (org_id, last_seq) values (?, ?) on conflict (org_id) do update set last_seq = excluded.last_seq')
        .run(orgId, lastSeq);
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

async function postgresWriter(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('set synchronous_commit = off');
  const sqlFor = Object.fromEntries(Object.entries(TABLES).map(([t, cols]) => {
    const names = Object.keys(cols);
    return [t, `insert into ${t} (${names.join(', ')}) select * from unnest(${names.map((c, k) => `$${k + 1}::${cols[c]}[]`).join(', ')})`];
  }));
  return {
    async write(batch) {
      await client.query('begin');
      try {
        for (const [t, rows] of Object.entries(batch)) {
          if (rows.length === 0) continue;
          const columns = Object.keys(TABLES[t]).map((_, k) => rows.map((row) => row[k]));
          await client.query(sqlFor[t], columns);
        }
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw err;
      }
    },
    async finish(orgId, lastSeq) {
      await client.query('insert into org_sequences (org_id, last_seq) values ($1, $2) on conflict (org_id) do update set last_seq = excluded.last_seq', [orgId, lastSeq]);
      // A server that grew these tables would have been vacuumed and analyzed by autovacuum
      // by now (the bulk load's long transactions leave the counter rows' old versions behind).
      await client.query('vacuum analyze');
      await client.end();
    },
  };
}

// ---------------------------------------------------------------------------------------
// HOOK: the search index

/**
 * HOOK, to be wired by whoever merges full-text search. The bulk load writes `events`
 * rows directly, not through `appendEvents`, which is where message events are indexed
 * for `q`; so the index must be filled here after the load. When dist/store/search.js
 * exports `rebuildSearchIndex(db, orgId)` (index every message event of the
 * organization; returns anything), it is called. Otherwise nothing is filled, which the
 * report says, and the `q` case is recorded as "not available" if it finds nothing (an
 * index kept by database triggers on `events` needs nothing here). Edit this function
 * if the search module's entry point has another name or shape.
 *
 * @returns a line for the report: what was done.
 */
async function fillSearchIndex(store, orgId) {
  // The rows were bulk-inserted, past appendEvents: index them as migration 0005 does
  // for messages stored before it (the store holds this one organization only).
  void orgId;
  const { backfillSearch, searchIndexOf } = await dist('store/search.js');
  const started = Date.now();
  const n = await backfillSearch(store.db, searchIndexOf(store.db), 5_000);
  return `filled: ${n} messages indexed in ${((Date.now() - started) / 1000).toFixed(1)} s`;
}

// ---------------------------------------------------------------------------------------
// Generation and the cache

/**
 * Generates the store into a fresh SQLite data directory or PostgreSQL database.
 * @returns its description (ids, key, counts, timings), as kept in meta.json.
 */
async function generate(target, scale, corpusDir) {
  const started = Date.now();
  const { openStore } = await dist('store/open.js');
  const { createOrganization } = await dist('services/tenants.js');
  const { ensureMailbox } = await dist('services/identities.js');
  const lib = {
    ...(await dist('domain/projection.js')), ...(await dist('store/timeline.js')), ...(await dist('ids.js')),
    ...(await dist('domain/threading.js')), ...(await dist('store/contacts.js')),
  };
  log(`inbox store: parsing the corpus at ${corpusDir} ...`);
  const corpus = await loadCorpus(corpusDir);

  const config = { dataDir: target.dataDir ?? path.join(CACHE, 'unused'), databaseUrl: target.databaseUrl ?? null };
  let store = await openStore(config);
  const { orgId, apiKey } = await createOrganization(store, 'inbox benchmark');
  const account = await ensureMailbox(store, orgId, MAILBOX);
  const nowIso = new Date().toISOString();
  const members = [];
  for (let k = 0; k < MEMBERS; k++) {
    const id = lib.newId('mem');
    await store.db.insertInto('members').values({
      id, org_id: orgId, email: `agent${k}@bench.switchboard.test`, name: `Agent ${k}`, role: 'agent', created_at: nowIso, updated_at: nowIso,
    }).execute();
    members.push(id);
  }
  const seqRow = await store.db.selectFrom('org_sequences').select('last_seq').where('org_id', '=', orgId).executeTakeFirst();
  await store.close();

  const ctx = {
    orgId, identityId: account.identity_id, accountId: account.id, mailbox: MAILBOX, members, keyId: apiKey.id,
    now: Date.now(), nowIso, seq: Number(seqRow?.last_seq ?? 0) + 1,
  };
  const writer = target.databaseUrl ? await postgresWriter(target.databaseUrl) : sqliteWriter(path.join(target.dataDir, 'switchboard.db'));
  const perBatch = target.databaseUrl ? 250 : 1000;
  let messages = 0;
  let batch = emptyBatch();
  let inBatch = 0;
  let lastReport = Date.now();
  const loadStarted = Date.now();
  for (let i = 0; i < scale.conversations; i++) {
    messages += addConversation(batch, i, scale, corpus, ctx, lib);
    if (++inBatch === perBatch || i === scale.conversations - 1) {
      await writer.write(batch);
      batch = emptyBatch();
      inBatch = 0;
      if (Date.now() - lastReport > 10_000 || i === scale.conversations - 1) {
        lastReport = Date.now();
        const s = (Date.now() - loadStarted) / 1000;
        log(`inbox store: ${(i + 1).toLocaleString('en-US')} conversations, ${messages.toLocaleString('en-US')} messages, ${s.toFixed(0)} s`);
      }
    }
  }
  const events = ctx.seq - 1;
  await writer.finish(orgId, events);
  const loadSeconds = (Date.now() - loadStarted) / 1000;

  store = await openStore(config);
  let search;
  try {
    search = await fillSearchIndex(store, orgId);
  } finally {
    await store.close();
  }
  return {
    orgId, apiKey: apiKey.key, identityId: account.identity_id, members,
    conversations: scale.conversations, messages, events, corpusMessages: corpus.length,
    loadSeconds, generatedSeconds: (Date.now() - started) / 1000, generatedAt: nowIso, search,
  };
}

async function pgAdmin(adminUrl, text, values) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try { return await client.query(text, values); } finally { await client.end(); }
}

/**
 * The benchmark store for a scale, generated on first use and reused afterwards.
 *
 * @param options.kind `sqlite` (a data directory under .bench/inbox/) or `postgres` (a
 *   database `sb_bench_inbox_<hash>` on the server of `adminUrl`).
 * @returns `{ key, dataDir | databaseUrl, orgId, apiKey, conversations, messages, events,
 *   generatedSeconds, search, reused }`.
 * @throws Error when the corpus is missing or the store cannot be written.
 */
export async function ensureInboxStore({ kind, scale, adminUrl = null, corpusDir }) {
  const key = cacheKey(kind, scale, corpusDir);
  const metaFile = path.join(CACHE, `${key}.json`);
  fs.mkdirSync(CACHE, { recursive: true });
  let target;
  if (kind === 'postgres') {
    const database = `sb_bench_inbox_${crypto.createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
    const url = new URL(adminUrl);
    url.pathname = `/${database}`;
    target = { databaseUrl: url.toString(), database };
    const exists = (await pgAdmin(adminUrl, 'select 1 from pg_database where datname = $1', [database])).rowCount > 0;
    if (fs.existsSync(metaFile) && exists) return { ...JSON.parse(fs.readFileSync(metaFile, 'utf8')), ...target, key, reused: true };
    await pgAdmin(adminUrl, `drop database if exists "${database}" with (force)`);
    await pgAdmin(adminUrl, `create database "${database}"`);
  } else {
    target = { dataDir: path.join(CACHE, key) };
    if (fs.existsSync(metaFile) && fs.existsSync(target.dataDir)) return { ...JSON.parse(fs.readFileSync(metaFile, 'utf8')), ...target, key, reused: true };
    fs.rmSync(target.dataDir, { recursive: true, force: true });
  }
  fs.rmSync(metaFile, { force: true });
  log(`inbox store: generating ${key} (${scale.conversations.toLocaleString('en-US')} conversations) ...`);
  const meta = await generate(target, scale, corpusDir);
  fs.writeFileSync(metaFile, JSON.stringify(meta, null, 2)); // written last: marks the store complete
  return { ...meta, ...target, key, reused: false };
}
