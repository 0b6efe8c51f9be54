/**
 * Delivery status notifications (bounces): RFC 3462 `multipart/report;
 * report-type=delivery-status` with a `message/delivery-status` part (RFC 3464) and the
 * returned message or its headers (`message/rfc822`, `text/rfc822-headers`).
 */
import { normalizeMessageId } from '../domain/threading.js';
import type { ParsedEmail } from './parse.js';

/** One recipient's outcome in a report (RFC 3464 section 2.3). */
export interface RecipientReport {
  /** `Final-Recipient` (else `Original-Recipient`), without its address type. */
  readonly recipient: string | null;
  /** `failed`, `delayed`, `delivered`, `relayed` or `expanded`. */
  readonly action: string | null;
  /** The enhanced status code (RFC 3463), e.g. `5.1.1`. */
  readonly status: string | null;
  /** `Diagnostic-Code` without its type: the remote server's reply, e.g. `550 5.1.1 User unknown`. */
  readonly diagnostic: string | null;
}

export interface DeliveryReport {
  /** The Message-ID of the message the report is about, from the returned headers; null when not returned. */
  readonly originalMessageId: string | null;
  readonly recipients: readonly RecipientReport[];
}

/** Field blocks of a `message/delivery-status` body: unfolded `name → value` per block, names lower-cased. */
function fieldBlocks(text: string): Map<string, string>[] {
  return text.replace(/\r\n/g, '\n').split(/\n[ \t]*\n/).map((block) => {
    const fields = new Map<string, string>();
    for (const line of block.replace(/\n[ \t]+/g, ' ').split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) fields.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    return fields;
  }).filter((f) => f.size > 0);
}

/** A typed field value (`rfc822; a@b`, `smtp; 550 …`) without its type. */
const untyped = (value: string | undefined) => {
  if (!value) return null;
  const i = value.indexOf(';');
  return (i === -1 ? value : value.slice(i + 1)).trim() || null;
};

/** The Message-ID header of a header block (the returned message's). */
function messageIdOf(headers: string): string | null {
  const head = headers.replace(/\r\n/g, '\n').split(/\n\n/)[0]!.replace(/\n[ \t]+/g, ' ');
  const line = head.split('\n').find((l) => /^message-id\s*:/i.test(l));
  return line ? normalizeMessageId(line.slice(line.indexOf(':') + 1)) : null;
}

/**
 * The delivery report a message carries, or null when it is not one. Reads the parts
 * the parser kept as attachments; never throws.
 */
export function readDeliveryReport(parsed: ParsedEmail): DeliveryReport | null {
  const status = parsed.attachments.find((a) => /^message\/(global-)?delivery-status$/i.test(a.contentType));
  if (!status) return null;
  const blocks = fieldBlocks(status.content.toString('utf8'));
  const recipients = blocks.slice(1).map((f) => ({
    recipient: untyped(f.get('final-recipient') ?? f.get('original-recipient'))?.toLowerCase() ?? null,
    action: f.get('action')?.toLowerCase() ?? null,
    status: f.get('status')?.split(/\s/)[0] ?? null,
    diagnostic: untyped(f.get('diagnostic-code')),
  }));
  const returned = parsed.attachments.find((a) => /^(message\/(global|rfc822)|text\/rfc822-headers|message\/global-headers)$/i.test(a.contentType));
  return { originalMessageId: returned ? messageIdOf(returned.content.toString('utf8')) : null, recipients };
}

/** The recipient a report says failed, if any: a bounce, not a delay or a success notice. */
export function failedRecipient(report: DeliveryReport): RecipientReport | null {
  return report.recipients.find((r) => r.action === 'failed' || (r.action === null && r.status?.startsWith('5'))) ?? null;
}
