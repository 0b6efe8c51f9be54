/**
 * The task a parse-pool worker runs: MIME parsing, the preview snippet and (for imports)
 * the search words, the CPU-heavy half of ingesting a message, off the thread that
 * writes the store.
 */
import { messageTokens } from '../domain/search-text.js';
import { snippetOf } from '../domain/snippet.js';
import { installConcatBlob } from './concat-blob.js';
import { parseEmail, type ParsedEmail } from './parse.js';

installConcatBlob();

/** A parsed message with its preview (and, when asked, its search words), as it crosses back to the calling thread. */
export interface ParseOutput {
  readonly parsed: ParsedEmail;
  readonly snippet: string;
  /** The words the search index keeps for it (domain/search-text.ts `messageTokens`), when the task asked. */
  readonly tokens?: string[];
}

/** One message to parse: its bytes, and whether to compute its search words too (imports do, off their writer's thread). */
export interface ParseTask {
  readonly raw: Uint8Array;
  readonly tokens: boolean;
}

/** Parses one raw RFC 5322 message; never throws for malformed input. */
export default async function parseTask({ raw, tokens }: ParseTask): Promise<ParseOutput> {
  const parsed = await parseEmail(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  const snippet = snippetOf(parsed.text, parsed.html);
  return tokens ? { parsed, snippet, tokens: messageTokens(parsed) } : { parsed, snippet };
}
