/**
 * RFC 5322 / MIME parsing with postal-mime, reduced to what the core needs.
 *
 * Nothing is dropped: a message the parser rejects is still returned with what the
 * header block yields and the body as text, and each problem is named in `problems`.
 */
import PostalMime from 'postal-mime';
import type { Address, Email } from 'postal-mime';
import type { EmailAddress } from '../domain/events.js';
import { htmlToText } from '../domain/snippet.js';
import { isTruncated } from './peek.js';
import { normalizeMessageId, parseInReplyTo, parseMessageIds } from '../domain/threading.js';

export interface ParsedAttachment {
  readonly filename: string | null;
  readonly contentType: string;
  readonly content: Buffer;
  readonly contentId: string | null;
  readonly disposition: string | null;
}

/** A parsed message. Ids carry no angle brackets; addresses are lower-cased. */
export interface ParsedEmail {
  readonly messageId: string | null;
  readonly inReplyTo: string[];
  readonly references: string[];
  readonly subject: string | null;
  readonly from: EmailAddress | null;
  readonly to: EmailAddress[];
  readonly cc: EmailAddress[];
  readonly replyTo: EmailAddress[];
  /** The Date header as RFC 3339, or null when absent or unreadable. */
  readonly date: string | null;
  readonly text: string | null;
  readonly html: string | null;
  readonly attachments: ParsedAttachment[];
  /** What could not be read; empty for a clean message. */
  readonly problems: string[];
  /**
   * An automatic message, not a person's reply: `Auto-Submitted` other than `no` (RFC
   * 3834), `X-Autoreply`/`X-Autorespond`, `Precedence: auto_reply`, or a delivery report.
   */
  readonly autoSubmitted: boolean;
}

/** Whether a message's headers mark it automatic (see {@link ParsedEmail.autoSubmitted}). */
export function isAutoSubmitted(header: (key: string) => string | null | undefined): boolean {
  const auto = header('auto-submitted')?.trim().toLowerCase();
  if (auto && !auto.startsWith('no')) return true;
  if (header('x-autoreply') || header('x-autorespond')) return true;
  if (header('precedence')?.trim().toLowerCase() === 'auto_reply') return true;
  return /multipart\/report/i.test(header('content-type') ?? '') && /report-type\s*=\s*"?delivery-status/i.test(header('content-type') ?? '');
}

/**
 * Strips an mbox `From ` separator line left at the top of a message file
 * (RFC 4155), which is not a header and would end the header block early.
 */
export function stripMboxFromLine(raw: Buffer): Buffer {
  if (raw.length > 5 && raw.subarray(0, 5).toString('latin1') === 'From ') {
    const nl = raw.indexOf(0x0a);
    return nl === -1 ? Buffer.alloc(0) : raw.subarray(nl + 1);
  }
  return raw;
}

/**
 * Parses one raw message.
 *
 * @param raw the bytes of one RFC 5322 message (CRLF or LF line ends).
 * @returns the parsed message; never throws for malformed input.
 */
export async function parseEmail(raw: Buffer): Promise<ParsedEmail> {
  return withoutNul(await parseMime(stripMboxFromLine(raw)));
}

async function parseMime(bytes: Buffer): Promise<ParsedEmail> {
  let email: Email;
  try {
    email = await PostalMime.parse(bytes, { maxNestingDepth: 64, maxHeadersSize: 1024 * 1024 });
  } catch (err) {
    return fallbackParse(bytes, `MIME structure could not be parsed: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  const header = (key: string) => email.headers.find((h) => h.key === key)?.value ?? null;
  const date = readDate(email.date ?? header('date'), problems);
  let text = repairC1(email.text ?? null);
  if (text === null && !email.html && email.attachments.length === 0) {
    // A multipart body whose boundary is missing or never occurs yields no part at all;
    // keep its bytes as text rather than drop them.
    const body = bodyWithoutMatchingBoundary(bytes, header('content-type'));
    if (body !== null) {
      text = body;
      problems.push('multipart boundary missing or not found; body kept as text');
    }
  }
  if (isTruncated(bytes, header('content-type'))) problems.push(TRUNCATED_PROBLEM);
  const html = repairC1(email.html ?? null);
  // An agent reads `text`: HTML-only mail gets its plain-text rendering.
  if (text === null && html) {
    try {
      text = htmlToText(html);
    } catch {
      problems.push('the HTML body could not be rendered as text');
    }
  }
  return {
    messageId: normalizeMessageId(email.messageId ?? header('message-id')),
    inReplyTo: parseInReplyTo(header('in-reply-to')),
    references: parseMessageIds(header('references')),
    subject: repairC1(email.subject ?? null),
    from: firstAddress(email.from ? [email.from] : email.sender ? [email.sender] : []),
    to: capped('To', flattenAddresses(email.to), problems),
    cc: capped('Cc', flattenAddresses(email.cc), problems),
    replyTo: capped('Reply-To', flattenAddresses(email.replyTo), problems),
    date,
    text,
    html,
    autoSubmitted: isAutoSubmitted(header),
    attachments: email.attachments.map((a) => ({
      filename: repairC1(a.filename ?? null),
      contentType: a.mimeType || 'application/octet-stream',
      content: toBuffer(a.content),
      contentId: a.contentId ? a.contentId.replace(/^<|>$/g, '') : null,
      disposition: a.disposition ?? null,
    })),
    problems,
  };
}

/**
 * Windows-1252 bytes 0x80–0x9F (WHATWG Encoding Standard, index-windows-1252). The
 * WHATWG labels `windows-1252`, `iso-8859-1`, `us-ascii` all name this encoding.
 */
const CP1252_C1 =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/**
 * Whether this runtime's TextDecoder decodes windows-1252 as ISO-8859-1 (Node.js
 * 20.18.3+ and 22.13+, nodejs/node#56542), leaving C1 controls where `€`, `“`, `”`, `–`
 * belong. postal-mime decodes with it.
 */
const WINDOWS_1252_BROKEN = (() => {
  try {
    return new TextDecoder('windows-1252').decode(Uint8Array.of(0x80)) !== '\u20ac';
  } catch {
    return false;
  }
})();

/** Maps C1 controls back to their windows-1252 characters on an affected runtime. */
function repairC1(value: string | null): string | null {
  if (!value || !WINDOWS_1252_BROKEN) return value;
  return value.replace(/[\u0080-\u009f]/g, (c) => CP1252_C1[c.charCodeAt(0) - 0x80] ?? c);
}

/**
 * The body of a message declared multipart whose boundary parameter is missing or whose
 * delimiter line (`--boundary`, RFC 2046 section 5.1.1) never occurs; null otherwise.
 */
function bodyWithoutMatchingBoundary(bytes: Buffer, contentType: string | null): string | null {
  if (!contentType || !/^\s*multipart\//i.test(contentType)) return null;
  const text = bytes.toString('utf8');
  const split = text.search(/\r?\n\r?\n/);
  if (split === -1) return null;
  const body = text.slice(split).replace(/^\s+/, '');
  if (!body.trim()) return null;
  const m = /boundary\s*=\s*(?:"([^"]*)"|([^\s;]+))/i.exec(contentType);
  const boundary = m ? m[1] ?? m[2] ?? '' : '';
  if (boundary && body.includes(`--${boundary}`)) return null;
  return body;
}

function readDate(value: string | null | undefined, problems: string[]): string | null {
  if (!value) return null;
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    problems.push(`unreadable Date header: ${value.slice(0, 100)}`);
    return null;
  }
  return new Date(t).toISOString();
}

function toBuffer(content: ArrayBuffer | Uint8Array | string): Buffer {
  if (typeof content === 'string') return Buffer.from(content, 'utf8');
  if (content instanceof Uint8Array) return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  return Buffer.from(content);
}

function toEmailAddress(a: { address: string; name: string }): EmailAddress | null {
  const address = a.address?.trim().toLowerCase();
  if (!address) return null;
  return { address, name: repairC1(a.name?.trim() || null) };
}

/** Addresses kept of one header (To, Cc, Reply-To); the rest stay in the raw bytes. */
export const MAX_ADDRESSES_PER_FIELD = 1_000;

/** Addresses of a header, with groups (RFC 5322 section 3.4) flattened. */
export function flattenAddresses(list: readonly Address[] | undefined): EmailAddress[] {
  const out: EmailAddress[] = [];
  for (const a of list ?? []) {
    const members = a.group ? a.group : [a];
    for (const m of members) {
      const e = toEmailAddress(m);
      if (e) out.push(e);
    }
  }
  return out;
}

/** At most {@link MAX_ADDRESSES_PER_FIELD} addresses of a field, naming the cut in `problems`. */
function capped(field: string, addresses: EmailAddress[], problems: string[]): EmailAddress[] {
  if (addresses.length <= MAX_ADDRESSES_PER_FIELD) return addresses;
  problems.push(`${field} names ${addresses.length} addresses; the first ${MAX_ADDRESSES_PER_FIELD} are kept (all are in the raw message)`);
  return addresses.slice(0, MAX_ADDRESSES_PER_FIELD);
}

function firstAddress(list: readonly Address[]): EmailAddress | null {
  return flattenAddresses(list)[0] ?? null;
}

/** The parse problem of a message whose bytes end before its MIME structure does (email/peek.ts `isTruncated`). */
export const TRUNCATED_PROBLEM = 'the message ends before its MIME structure does (truncated)';

/**
 * The headers and the body as text, without MIME: the last resort for input postal-mime
 * rejects, and what is kept of a message whose full parse failed or ran out of time
 * (`problem` says which). Unfolded header fields up to the first empty line, the rest as
 * UTF-8 text; never throws.
 */
export function parseHeadersOnly(bytes: Buffer, problem: string): ParsedEmail {
  return withoutNul(fallbackParse(bytes, problem));
}

/**
 * Characters of the body kept as `text` by the headers-only parse (512 Ki). Its body is the
 * undecoded MIME source, which the raw bytes keep in full; megabytes of it in the message
 * event would only slow every read of the timeline and the write itself.
 */
export const MAX_FALLBACK_TEXT = 512 * 1024;

function fallbackParse(bytes: Buffer, problem: string): ParsedEmail {
  const text = bytes.toString('utf8');
  const split = text.search(/\r?\n\r?\n/);
  const head = split === -1 ? text : text.slice(0, split);
  const body = split === -1 ? '' : text.slice(split).replace(/^\s+/, '');
  const fields = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) {
      const key = line.slice(0, i).trim().toLowerCase();
      if (!fields.has(key)) fields.set(key, line.slice(i + 1).trim());
    }
  }
  const problems = [problem];
  const addr = (v: string | undefined): EmailAddress[] => {
    const m = v?.match(/[^\s<>,;"]+@[^\s<>,;"]+/g) ?? [];
    return m.map((address) => ({ address: address.toLowerCase(), name: null }));
  };
  return {
    messageId: normalizeMessageId(fields.get('message-id')),
    inReplyTo: parseInReplyTo(fields.get('in-reply-to')),
    references: parseMessageIds(fields.get('references')),
    subject: fields.get('subject') ?? null,
    from: addr(fields.get('from'))[0] ?? null,
    to: capped('To', addr(fields.get('to')), problems),
    cc: capped('Cc', addr(fields.get('cc')), problems),
    replyTo: capped('Reply-To', addr(fields.get('reply-to')), problems),
    date: readDate(fields.get('date'), problems),
    text: cappedText(body, problems),
    html: null,
    attachments: [],
    problems,
    autoSubmitted: isAutoSubmitted((key) => fields.get(key)),
  };
}

function cappedText(body: string, problems: string[]): string {
  if (body.length <= MAX_FALLBACK_TEXT) return body;
  problems.push(`the body has ${body.length} characters; the first ${MAX_FALLBACK_TEXT} are kept as text (all are in the raw message)`);
  // Not inside a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(body[MAX_FALLBACK_TEXT - 1]!) ? MAX_FALLBACK_TEXT - 1 : MAX_FALLBACK_TEXT;
  return body.slice(0, end);
}

/** U+0000 anywhere in a string: not text, and PostgreSQL's `text` cannot hold it. */
const NUL = /\u0000/g;

/**
 * The parsed message with U+0000 removed from every string (the raw bytes keep it),
 * named in `problems` when there was any.
 */
function withoutNul(p: ParsedEmail): ParsedEmail {
  let found = false;
  const clean = <T extends string | null>(v: T): T => {
    if (v === null || !v.includes('\u0000')) return v;
    found = true;
    return v.replace(NUL, '') as T;
  };
  const address = (a: EmailAddress): EmailAddress => ({ address: clean(a.address), name: clean(a.name) });
  const out: ParsedEmail = {
    ...p,
    messageId: clean(p.messageId),
    inReplyTo: p.inReplyTo.map(clean),
    references: p.references.map(clean),
    subject: clean(p.subject),
    from: p.from && address(p.from),
    to: p.to.map(address),
    cc: p.cc.map(address),
    replyTo: p.replyTo.map(address),
    text: clean(p.text),
    html: clean(p.html),
    attachments: p.attachments.map((a) => ({
      ...a, filename: clean(a.filename), contentType: clean(a.contentType), contentId: clean(a.contentId), disposition: clean(a.disposition),
    })),
  };
  return found ? { ...out, problems: [...p.problems, 'NUL characters removed from the decoded text'] } : p;
}
