/**
 * `npm run bench:soak`: the server under a hostile mix while ordinary work goes on
 * (issue 19). One `switchboard serve` process (embedded SQLite) on this machine; for
 * SOAK_SECONDS (default 60) this process, at the same time:
 *
 * - hostile: SMTP clients sending 100 MB messages without `SIZE=`; SMTP clients
 *   resending one 4.5 MB message of 100,000 MIME parts; API clients posting JSON nested
 *   5,000 levels deep; slow HTTP bodies (1 byte a second) held open; webhook endpoints
 *   that answer after 30 s beside one that answers at once;
 * - ordinary: a message over SMTP every 250 ms, a conversation list read every 100 ms;
 * - measuring: `GET /readyz` every 20 ms (latency), the server's RSS every 200 ms.
 *
 * Writes its section of docs/benchmarks.md, with the targets: `/readyz` p99 under 50 ms,
 * RSS under 512 MiB, every ordinary message and read answered.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import nodemailer from 'nodemailer';
import { log, machine, REPORT, replaceSection, ROOT, run } from './common.mjs';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const HEADING = '## Hostile load (soak)';
const BIN = path.join(ROOT, 'bin', 'switchboard.js');

const quantile = (xs, q) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

/** An SMTP session by hand (no client library buffers the body): EHLO, MAIL, RCPT, DATA of `bytes` bytes. @returns the final reply code. */
function rawSmtpSend(port, to, bytes) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffer = '';
    let step = 0;
    const done = (code) => { socket.destroy(); resolve(code); };
    socket.setTimeout(120_000, () => done('timeout'));
    socket.on('error', () => done('error'));
    socket.on('close', () => done('closed'));
    const send = (line) => socket.write(`${line}\r\n`);
    socket.on('data', async (d) => {
      buffer += d.toString('latin1');
      let nl;
      while ((nl = buffer.indexOf('\r\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (line[3] === '-') continue; // a multi-line reply goes on
        const code = Number(line.slice(0, 3));
        if (step === 0) { step = 1; send('EHLO soak.test'); }
        else if (step === 1) { step = 2; send('MAIL FROM:<big@soak.test>'); }
        else if (step === 2) { step = 3; send(`RCPT TO:<${to}>`); }
        else if (step === 3) { if (code >= 400) return done(code); step = 4; send('DATA'); }
        else if (step === 4) {
          if (code !== 354) return done(code);
          step = 5;
          socket.write('From: big@soak.test\r\nTo: soak@soak.test\r\nSubject: big\r\n\r\n');
          const chunk = Buffer.alloc(1 << 20, 'x'.repeat(76) + '\r\n');
          for (let sent = 0; sent < bytes && !socket.destroyed; sent += chunk.length) {
            if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
          }
          socket.write('\r\n.\r\n');
        } else if (step === 5) return done(code);
      }
    });
  });
}

/** A message of `parts` tiny MIME parts. */
function manyParts(parts, id) {
  const body = Array.from({ length: parts }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\n${i}\r\n`).join('');
  return Buffer.from(`From: parts@soak.test\r\nTo: soak@soak.test\r\nSubject: parts\r\nMessage-ID: <${id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${body}--b--\r\n`);
}

/** JSON nested `depth` levels: `{"a":{"a":…}}`. */
const deepJson = (depth) => `${'{"text":"x","a":'.repeat(depth)}1${'}'.repeat(depth)}`;

export async function soak() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-soak-'));
  const [port, smtpPort, hookPort] = [await freePort(), await freePort(), await freePort()];
  const init = JSON.parse((await run(process.execPath, [BIN, 'init', '--data-dir', dataDir, '--json'])).stdout.trim().split('\n').at(-1));
  const key = init.api_key;
  const server = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--port', String(port), '--smtp-port', String(smtpPort), '--host', '127.0.0.1'], {
    env: { ...process.env, SMTP_HOST: '127.0.0.1', LOG_LEVEL: 'silent', OUTBOUND_ALLOW_PRIVATE: 'true', WEBHOOK_TIMEOUT_MS: '30000' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300 && !(await fetch(`${base}/readyz`).then((r) => r.ok, () => false)); i++) await sleep(100);
  const api = (method, p, body, raw, as = key) => fetch(`${base}${p}`, {
    method, headers: { authorization: `Bearer ${as}`, ...(body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: raw ?? (body !== undefined ? JSON.stringify(body) : undefined),
  });
  const idn = await (await api('POST', '/v1/identities', { handle: 'soak' })).json();
  // The hostile API clients have a key of their own: the default per-key limit applies to it.
  const hostileKey = (await (await api('POST', '/v1/api_keys', { name: 'hostile' })).json()).key;
  await api('POST', '/v1/mailboxes', { identity_id: idn.id, address: 'soak@soak.test' });

  // Webhook receivers: three that answer after 30 s, one at once (counts what it got).
  let fastDeliveries = 0;
  const slowHooks = http.createServer((req, res) => { req.resume(); setTimeout(() => res.end(), 30_000).unref(); }).listen(0, '127.0.0.1');
  const fastHook = http.createServer((req, res) => { req.resume(); req.on('end', () => { fastDeliveries++; res.end(); }); }).listen(hookPort, '127.0.0.1');
  await new Promise((r) => slowHooks.once('listening', r));
  for (let i = 0; i < 3; i++) await api('POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${slowHooks.address().port}/slow${i}` });
  await api('POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${hookPort}/fast` });

  // Baseline: `/readyz` on the idle server, in this run, before any load.
  const idle = [];
  for (let i = 0; i < 250; i++) {
    const t = performance.now();
    if ((await fetch(`${base}/readyz`).then((r) => r.status, () => 0)) === 200) idle.push(performance.now() - t);
    await sleep(20);
  }

  const until = Date.now() + SECONDS * 1_000;
  const running = () => Date.now() < until;
  const tally = (map, k) => map.set(String(k), (map.get(String(k)) ?? 0) + 1);

  // Measuring.
  const readyz = [];
  const readyzErrors = new Map();
  const probe = (async () => {
    while (running()) {
      const t = performance.now();
      const ok = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.status, (e) => e.name);
      if (ok === 200) readyz.push(performance.now() - t); else tally(readyzErrors, ok);
      await sleep(20);
    }
  })();
  let maxRssMiB = 0;
  const rss = setInterval(() => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? 0);
      maxRssMiB = Math.max(maxRssMiB, kb / 1024);
    } catch { /* not Linux, or exited */ }
  }, 200);
  // Where the memory is and what the collector costs: the server's own /metrics, each second.
  const memory = { heapUsedMiB: 0, externalMiB: 0 };
  const metric = (text, name, labels = '') => {
    const m = new RegExp(`^${name}${labels ? `\\{[^}]*${labels}[^}]*\\}` : ''} ([0-9.e+-]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const scrape = () => fetch(`${base}/metrics`).then((r) => r.text(), () => '');
  const gcBefore = await scrape();
  const memoryProbe = setInterval(async () => {
    const text = await scrape();
    memory.heapUsedMiB = Math.max(memory.heapUsedMiB, metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20);
    memory.externalMiB = Math.max(memory.externalMiB, metric(text, 'nodejs_external_memory_bytes') / 2 ** 20);
  }, 1_000);

  // Ordinary work.
  const ordinary = { sent: 0, accepted: 0, ack: [], reads: 0, readsOk: 0 };
  const smtp = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity, socketTimeout: 60_000 });
  const ingest = (async () => {
    for (let n = 0; running(); n++) {
      const t = performance.now();
      ordinary.sent++;
      await smtp.sendMail({ envelope: { from: `c${n % 50}@soak.test`, to: ['soak@soak.test'] }, raw: Buffer.from(`From: c${n % 50}@soak.test\r\nTo: soak@soak.test\r\nSubject: n${n}\r\nMessage-ID: <ord-${n}@soak.test>\r\n\r\nordinary ${n}\r\n`) })
        .then(() => { ordinary.accepted++; ordinary.ack.push(performance.now() - t); }, () => {});
      await sleep(250);
    }
  })();
  const reads = (async () => {
    while (running()) {
      ordinary.reads++;
      if ((await api('GET', '/v1/conversations?limit=20').then((r) => r.status, () => 0)) === 200) ordinary.readsOk++;
      await sleep(100);
    }
  })();

  // Hostile work, from its own process at a lower CPU priority (nice 10): attackers do not
  // share the server's cores, and on this two-core machine the load generator would
  // otherwise compete with the server for them.
  const conv = (await (await api('GET', '/v1/conversations?limit=1')).json()).data[0]?.id ?? 'conv_x';
  const attacker = spawn('nice', ['-n', '10', process.execPath, fileURLToPath(import.meta.url), '--hostile',
    JSON.stringify({ port, smtpPort, key: hostileKey, conv, untilMs: until })], { stdio: ['ignore', 'pipe', 'inherit'] });
  let attackerOut = '';
  attacker.stdout.on('data', (d) => { attackerOut += d; });
  const attacked = new Promise((resolve) => attacker.once('exit', () => resolve(JSON.parse(attackerOut || '{}'))));

  await Promise.all([probe, ingest, reads]);
  const hostile = await attacked;
  clearInterval(rss);
  clearInterval(memoryProbe);
  const gcAfter = await scrape();
  const gcSeconds = (kind) => metric(gcAfter, 'nodejs_gc_duration_seconds_sum', `kind="${kind}"`) - metric(gcBefore, 'nodejs_gc_duration_seconds_sum', `kind="${kind}"`);
  const gcCounts = (kind) => metric(gcAfter, 'nodejs_gc_duration_seconds_count', `kind="${kind}"`) - metric(gcBefore, 'nodejs_gc_duration_seconds_count', `kind="${kind}"`);
  smtp.close();
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  slowHooks.close();
  fastHook.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return {
    seconds: SECONDS,
    readyz: { n: readyz.length, p50: quantile(readyz, 0.5), p99: quantile(readyz, 0.99), max: Math.max(...readyz), errors: Object.fromEntries(readyzErrors) },
    readyz_idle: { n: idle.length, p50: quantile(idle, 0.5), p99: quantile(idle, 0.99) },
    max_rss_mib: maxRssMiB,
    memory: { ...memory, gc: Object.fromEntries(['minor', 'major', 'incremental'].map((k) => [k, { count: gcCounts(k), seconds: gcSeconds(k) }])) },
    ordinary: { sent: ordinary.sent, accepted: ordinary.accepted, ack_p50: quantile(ordinary.ack, 0.5), ack_p99: quantile(ordinary.ack, 0.99), reads: ordinary.reads, reads_ok: ordinary.readsOk },
    fast_webhook_deliveries: fastDeliveries,
    hostile,
  };
}

/**
 * The hostile clients (run as `soak.mjs --hostile <json>`, in their own process) until
 * `untilMs`; prints what each kind was answered, as JSON.
 */
async function attack({ port, smtpPort, key, conv, untilMs }) {
  const running = () => Date.now() < untilMs;
  const tally = (map, k) => map.set(String(k), (map.get(String(k)) ?? 0) + 1);
  const api = (method, p, raw) => fetch(`http://127.0.0.1:${port}${p}`, {
    method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: raw,
  });
  const hostile = { oversized: new Map(), parts: new Map(), deepJson: new Map(), slowBodies: new Map() };
  const loops = [];
  for (let c = 0; c < 3; c++) {
    loops.push((async () => { while (running()) tally(hostile.oversized, await rawSmtpSend(smtpPort, 'soak@soak.test', 100 << 20)); })());
  }
  const partsMail = manyParts(100_000, 'parts-1@soak.test');
  for (let c = 0; c < 2; c++) {
    loops.push((async () => {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true, socketTimeout: 120_000 });
      while (running()) {
        tally(hostile.parts, await t.sendMail({ envelope: { from: 'parts@soak.test', to: ['soak@soak.test'] }, raw: partsMail }).then(() => 250, (e) => e.responseCode ?? e.code));
      }
      t.close();
    })());
  }
  for (let c = 0; c < 4; c++) {
    loops.push((async () => {
      while (running()) tally(hostile.deepJson, await api('POST', `/v1/conversations/${conv}/notes`, deepJson(5_000)).then((r) => r.status, (e) => e.name));
    })());
  }
  // Slow bodies: 200 connections trickling a declared 1 MB, one byte a second.
  const slow = Array.from({ length: 200 }, () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write('POST /v1/inbound/twilio/acct_x/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\n');
      const drip = setInterval(() => { if (running() && !s.destroyed) s.write('a'); else { clearInterval(drip); s.destroy(); } }, 1_000);
    });
    let answer = '';
    s.on('data', (d) => { answer += d.toString(); });
    s.on('close', () => { tally(hostile.slowBodies, /^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? 'closed'); resolve(); });
    s.on('error', () => {});
  }));

  await Promise.all(loops);
  await Promise.race([Promise.all(slow), sleep(5_000)]);
  return Object.fromEntries(Object.entries(hostile).map(([k, v]) => [k, Object.fromEntries(v)]));
}

const ms = (x) => `${x.toFixed(1)} ms`;
const outcomes = (m) => Object.entries(m).map(([k, v]) => `${v}× ${k}`).join(', ') || 'none';

export function soakSection(r, date = new Date().toISOString().slice(0, 10)) {
  const okReadyz = r.readyz.p99 < 50;
  const okRss = r.max_rss_mib < 512;
  const okOrdinary = r.ordinary.accepted === r.ordinary.sent && r.ordinary.reads_ok === r.ordinary.reads;
  return [
    HEADING, '',
    '`npm run bench:soak` (bench/soak.mjs), which rewrites this section.', '',
    `- **Date:** ${date}`,
    `- **Machine:** ${machine()}`,
    `- **Command:** \`SOAK_SECONDS=${r.seconds} npm run bench:soak\``,
    `- **Load, for ${r.seconds} s at once:** 3 SMTP clients sending 100 MB messages without \`SIZE=\` (one after the other each; past the size limit the server reads them at about 1.3 MB/s); 2 resending one 4.5 MB message of 100,000 MIME parts; 4 posting JSON nested 5,000 levels to an API route with an API key of their own (the default per-key limit, \`RATE_LIMIT_REQUESTS\`, applies to it); 200 HTTP connections trickling a declared 1 MB body at one byte a second; 3 webhook endpoints that answer after 30 s beside one that answers at once. The hostile clients run in a process of their own at a lower CPU priority (\`nice -n 10\`; attackers do not share the server's cores). Meanwhile an ordinary message over SMTP every 250 ms and a list read every 100 ms; \`GET /readyz\` every 20 ms; the server's RSS every 200 ms. One \`switchboard serve\` on the embedded SQLite store, defaults, in its own process.`,
    '',
    '| Measure | Result | Target |',
    '|---|---:|---:|',
    `| \`GET /readyz\` idle, before the load: p50 / p99 (${r.readyz_idle.n} probes) | ${ms(r.readyz_idle.p50)} / ${ms(r.readyz_idle.p99)} | baseline |`,
    `| \`GET /readyz\` under the load: p50 / p99 / max (${r.readyz.n} probes) | ${ms(r.readyz.p50)} / ${ms(r.readyz.p99)} / ${ms(r.readyz.max)} (p50 ${(r.readyz.p50 / r.readyz_idle.p50).toFixed(1)}× idle) | p99 under 50 ms: **${okReadyz ? 'met' : 'not met'}** |`,
    `| Server RSS, highest | ${r.max_rss_mib.toFixed(0)} MiB | under 512 MiB: **${okRss ? 'met' : 'not met'}** |`,
    ...(r.memory ? [
      `| of which V8 heap in use / external memory (Buffers), highest | ${r.memory.heapUsedMiB.toFixed(0)} MiB / ${r.memory.externalMiB.toFixed(0)} MiB | |`,
      `| Garbage collection on the main thread, in the ${r.seconds} s | ${['major', 'minor', 'incremental'].map((k) => `${k} ${r.memory.gc[k].count}× ${(r.memory.gc[k].seconds * 1000).toFixed(0)} ms`).join(', ')} | |`,
    ] : []),
    `| Ordinary SMTP messages accepted | ${r.ordinary.accepted} of ${r.ordinary.sent} (250 after p50 ${ms(r.ordinary.ack_p50)}, p99 ${ms(r.ordinary.ack_p99)}) | all |`,
    `| Ordinary list reads answered 200 | ${r.ordinary.reads_ok} of ${r.ordinary.reads} | all: **${okOrdinary ? 'met' : 'not met'}** |`,
    `| Deliveries to the fast webhook endpoint | ${r.fast_webhook_deliveries} | |`,
    '',
    `Hostile outcomes: 100 MB without SIZE: ${outcomes(r.hostile.oversized)}; 100,000-part message: ${outcomes(r.hostile.parts)}; deep JSON: ${outcomes(r.hostile.deepJson)}; slow bodies: ${outcomes(r.hostile.slowBodies)}.${Object.keys(r.readyz.errors).length ? ` \`/readyz\` failures: ${outcomes(r.readyz.errors)}.` : ''}`,
    '',
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv[2] === '--hostile') {
  process.stdout.write(JSON.stringify(await attack(JSON.parse(process.argv[3]))));
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  log(`soak: ${SECONDS} s of hostile load`);
  const r = await soak();
  console.log(JSON.stringify(r, null, 2));
  fs.writeFileSync(REPORT, replaceSection(fs.readFileSync(REPORT, 'utf8'), HEADING, soakSection(r)));
  log(`soak: ${REPORT} updated`);
}
