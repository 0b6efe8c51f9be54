/**
 * A pool of worker threads (piscina) that parse messages in parallel for bulk imports.
 * Each call resolves with its own message; the caller bounds how many are in flight
 * (the import keeps at most two batches ahead of its writer).
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
      // Tasks are handed out by the main thread, which is busy for whole batches while it
      // commits; a backlog per worker keeps the workers parsing meanwhile.
      concurrentTasksPerWorker: 16,
      // A parse needs little memory; a small heap makes V8 collect early instead of
      // growing every worker's heap (peak RSS of the benchmark import fell from 340 MB
      // to about 300 MB). A message too large for it is parsed on the calling thread.
      resourceLimits: { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 8 },
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
