/**
 * A look at a raw message's header block without parsing the message: enough to tell a
 * copy we already hold (its Message-ID and threading headers) and whether its MIME
 * structure is whole, before the full parse. Bounded: only the first
 * {@link PEEK_LIMIT_BYTES} are read.
 */
import { normalizeMessageId, parseInReplyTo, parseMessageIds } from '../domain/threading.js';

/** Bytes of the header block looked at, at most. */
export const PEEK_LIMIT_BYTES = 256 * 1024;

export interface PeekedHeaders {
  readonly messageId: string | null;
  readonly inReplyTo: string[];
  readonly references: string[];
  readonly contentType: string | null;
  /** Length of the header block in bytes, or null when it does not end within {@link PEEK_LIMIT_BYTES}. */
  readonly headerBytes: number | null;
}

/** The header fields threading and the truncation check need, unfolded (RFC 5322 section 2.2.3). */
export function peekHeaders(raw: Buffer): PeekedHeaders {
  const head = raw.subarray(0, PEEK_LIMIT_BYTES).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const block = (end === -1 ? head : head.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const fields = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!fields.has(name)) fields.set(name, line.slice(i + 1).trim());
  }
  return {
    messageId: normalizeMessageId(fields.get('message-id')),
    inReplyTo: parseInReplyTo(fields.get('in-reply-to')),
    references: parseMessageIds(fields.get('references')),
    contentType: fields.get('content-type') ?? null,
    headerBytes: end === -1 ? null : end,
  };
}

/**
 * Whether a multipart message ends before its MIME structure does: its top-level
 * boundary's closing delimiter (`--boundary--`, RFC 2046 section 5.1.1) never occurs.
 * A transfer cut short, or a relay that truncated the message, leaves it so.
 */
export function isTruncated(raw: Buffer, contentType: string | null): boolean {
  if (!contentType || !/^\s*multipart\//i.test(contentType)) return false;
  const m = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const boundary = m ? m[1] ?? m[2] : null;
  if (!boundary) return false;
  return raw.indexOf(`--${boundary}--`, 0, 'latin1') === -1;
}
