/**
 * Mail sources for import: an mbox file (RFC 4155, read as a stream with
 * `mbox-reader`), a maildir (`cur/` and `new/`), a folder of `.eml` files, or one
 * message file. Each yields raw messages one at a time, so memory stays flat however
 * large the input.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { mboxReader } from 'mbox-reader';

export interface RawMail {
  /** Where it came from: a file path, or `file#n` inside an mbox. */
  readonly source: string;
  readonly raw: Buffer;
}

export interface MailSource {
  readonly kind: 'mbox' | 'maildir' | 'eml-folder' | 'file';
  /** Number of messages when known up front (folders), else null. */
  readonly count: number | null;
  /** Total input bytes (for progress). */
  readonly bytes: number;
  messages(): AsyncGenerator<RawMail>;
}

async function listFiles(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile() && !e.name.startsWith('.') && keep(e.name))
    .map((e) => path.join(dir, e.name))
    .sort();
}

async function sizeOf(files: readonly string[]): Promise<number> {
  let total = 0;
  for (const f of files) total += fs.statSync(f).size;
  return total;
}

function fileSource(kind: MailSource['kind'], files: string[], bytes: number): MailSource {
  return {
    kind, count: files.length, bytes,
    async *messages() {
      // Read whole and synchronously: mail files are small, and an asynchronous read costs
      // the importing thread several times as much (a file handle and four hand-offs to
      // libuv's pool per file), where that thread is the import's bound (docs/benchmarks.md).
      for (const source of files) yield { source, raw: fs.readFileSync(source) };
    },
  };
}

async function startsWithFromLine(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(5);
    const { bytesRead } = await fh.read(buf, 0, 5, 0);
    return bytesRead === 5 && buf.toString('latin1') === 'From ';
  } finally {
    await fh.close();
  }
}

/**
 * Opens a path as a mail source, telling the format from its shape.
 *
 * @throws Error when the path does not exist or is neither a file nor a folder.
 */
export async function openMailSource(p: string): Promise<MailSource> {
  const stat = await fsp.stat(p);
  if (stat.isDirectory()) {
    const sub = ['cur', 'new'].map((d) => path.join(p, d)).filter((d) => fs.existsSync(d) && fs.statSync(d).isDirectory());
    if (sub.length > 0) {
      const files = (await Promise.all(sub.map((d) => listFiles(d, () => true)))).flat();
      return fileSource('maildir', files, await sizeOf(files));
    }
    const files = await listFiles(p, (n) => n.toLowerCase().endsWith('.eml'));
    return fileSource('eml-folder', files, await sizeOf(files));
  }
  if (!stat.isFile()) throw new Error(`${p} is neither a file nor a folder`);
  if (!(await startsWithFromLine(p))) return fileSource('file', [p], stat.size);
  return {
    kind: 'mbox', count: null, bytes: stat.size,
    async *messages() {
      let n = 0;
      for await (const m of mboxReader(fs.createReadStream(p))) {
        yield { source: `${p}#${n++}`, raw: m.content as Buffer };
      }
    },
  };
}
