/**
 * A pool of worker threads (piscina) that parse messages off the event loop: in parallel
 * for bulk imports (the caller bounds how many are in flight; the import keeps at most
 * two batches ahead of its writer), and one at a time per message for live mail (SMTP,
 * HTTP inbound) with a time budget ({@link ParsePool.parseWithin}), so hostile MIME never
 * stalls the server.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Piscina } from 'piscina';
import { parseHeadersOnly, type ParsedEmail } from './parse.js';
import type { ParseOutput, ParseTask } from './parse-worker.js';

export interface ParsePoolOptions {
  /** Worker threads; default: the machine's available parallelism. */
  readonly threads?: number;
  /** Old-generation heap of each worker, MiB (default 96: bulk imports of ordinary mail). */
  readonly heapMb?: number;
}

/** The compiled worker module (workers load JavaScript, not TypeScript sources): CommonJS, see parse-worker-entry.cts. */
const WORKER = new URL('./parse-worker-entry.cjs', import.meta.url);

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
      resourceLimits: { maxOldGenerationSizeMb: options.heapMb ?? 96, maxYoungGenerationSizeMb: 8 },
    });
  }

  /**
   * Parses one message in a worker.
   *
   * @param options.tokens also compute its search words (domain/search-text.ts `messageTokens`).
   * @returns the parsed message (attachment contents as Buffers), its snippet and, when asked, its search words.
   */
  async parse(raw: Buffer, options: { readonly tokens?: boolean } = {}): Promise<ParseOutput> {
    const out = await this.#pool.run({ raw, tokens: options.tokens ?? false } satisfies ParseTask) as ParseOutput;
    return { ...out, parsed: withBuffers(out.parsed) };
  }

  /**
   * Parses one message in a worker within `budgetMs`, with its snippet and search words.
   * A parse that takes longer is stopped (its worker is terminated) and the message is
   * kept as its headers and text with the problem named; so is one the worker fails on.
   * Never rejects.
   */
  async parseWithin(raw: Buffer, budgetMs: number): Promise<{ parsed: ParsedEmail; snippet: string | undefined; tokens?: readonly string[] }> {
    try {
      const out = await this.#pool.run({ raw, tokens: true } satisfies ParseTask, { signal: AbortSignal.timeout(budgetMs) }) as ParseOutput;
      return { parsed: withBuffers(out.parsed), snippet: out.snippet, tokens: out.tokens };
    } catch (err) {
      const timedOut = (err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError';
      const problem = timedOut ? `parsing took longer than ${budgetMs} ms; kept as headers and text` : `the parser failed: ${(err as Error).message}; kept as headers and text`;
      return { parsed: parseHeadersOnly(raw, problem), snippet: undefined };
    }
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
