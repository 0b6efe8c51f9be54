/**
 * A minimal in-memory `Blob` for the parse workers.
 *
 * postal-mime joins every decoded MIME part through `new Blob(chunks).arrayBuffer()`.
 * Node's `Blob` copies the chunks into native memory and reads them back
 * asynchronously, which made it the largest single cost of parsing: on the SpamAssassin
 * corpus (6,046 messages) postal-mime took 6.2 s with Node's Blob and 1.0 s with this one
 * (measured 2026-11-23, one thread). Only the parse worker threads install it, where
 * nothing else uses `Blob`.
 */
type BlobPart = string | ArrayBuffer | ArrayBufferView | ConcatBlob;

export class ConcatBlob {
  readonly #bytes: Buffer;
  readonly type: string;

  constructor(parts: readonly BlobPart[] = [], options: { type?: string } = {}) {
    this.#bytes = Buffer.concat(parts.map(toBytes));
    this.type = options.type ?? '';
  }

  get size(): number {
    return this.#bytes.length;
  }

  /** The bytes, as a fresh ArrayBuffer. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const copy = new Uint8Array(this.#bytes.length);
    copy.set(this.#bytes);
    return copy.buffer;
  }

  async text(): Promise<string> {
    return this.#bytes.toString('utf8');
  }

  /** @internal the bytes, for nesting one ConcatBlob in another. */
  bytes(): Buffer {
    return this.#bytes;
  }
}

function toBytes(part: BlobPart): Uint8Array {
  if (typeof part === 'string') return Buffer.from(part, 'utf8');
  if (part instanceof ConcatBlob) return part.bytes();
  if (part instanceof ArrayBuffer) return new Uint8Array(part);
  return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
}

/** Replaces the global `Blob` of this thread (call only in a dedicated worker). */
export function installConcatBlob(): void {
  (globalThis as { Blob: unknown }).Blob = ConcatBlob;
}
