/**
 * The task a parse-pool worker runs: MIME parsing and the preview snippet, the CPU-heavy
 * half of ingesting a message, off the thread that writes the store.
 */
import { snippetOf } from '../domain/snippet.js';
import { installConcatBlob } from './concat-blob.js';
import { parseEmail, type ParsedEmail } from './parse.js';

installConcatBlob();

/** A parsed message with its preview, as it crosses back to the calling thread. */
export interface ParseOutput {
  readonly parsed: ParsedEmail;
  readonly snippet: string;
}

/** Parses one raw RFC 5322 message; never throws for malformed input. */
export default async function parseTask(raw: Uint8Array): Promise<ParseOutput> {
  const parsed = await parseEmail(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  return { parsed, snippet: snippetOf(parsed.text, parsed.html) };
}
