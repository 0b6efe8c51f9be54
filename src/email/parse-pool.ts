/**
 * A pool of worker threads (piscina) that parse messages in parallel for bulk imports.
 * Results come back in submission order; at most `window` messages are in flight, so
 * memory stays flat however large the input is.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Piscina } from 'piscina';
import type { ParsedEmail } from './parse.js';
import type { ParseOutput } from './parse-worker.js';

export interface ParsePoolOptions {
  /** Worker threads; default: the machine's available parallelism. */
  readonly threads?: number;
}

/** The compiled worker module (workers load JavaScript, not TypeScript sources). */
const WORKER = new URL('./parse-worker.js', import.meta.url);

export class ParsePool {
  readonly #pool: Piscina;

  /** Whether workers can start here: false when running from TypeScript sources. */
  static available(): boolean {
    return fs.existsSync(WORKER);
  }

  constructor(options: ParsePoolOptions = {}) {
    const threads = Math.max(1, options.threads ?? os.availableParallelism());
    this.#pool = new Piscina({
      filename: WORKER.href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 1_000,
    });
  }

  /**
   * Parses one message in a worker.
   *
   * @returns the parsed message (attachment contents as Buffers) and its snippet.
   */
  async parse(raw: Buffer): Promise<ParseOutput> {
    const out = await this.#pool.run(raw) as ParseOutput;
    return { ...out, parsed: withBuffers(out.parsed) };
  }

  /** Stops the workers. */
  close(): Promise<void> {
    return this.#pool.destroy();
  }
}

/** Structured cloning turns Buffers into plain Uint8Arrays; this turns them back. */
function withBuffers(parsed: ParsedEmail): ParsedEmail {
  if (parsed.attachments.length === 0) return parsed;
  return {
    ...parsed,
    attachments: parsed.attachments.map((a) => ({ ...a, content: Buffer.from(a.content.buffer, a.content.byteOffset, a.content.byteLength) })),
  };
}
