/**
 * Outgoing message composition (RFC 5322 / MIME) with nodemailer's stream transport,
 * which builds the message into a buffer without sending it.
 */
import nodemailer from 'nodemailer';
import type { EmailAddress } from '../domain/events.js';

export interface OutgoingEmail {
  readonly from: EmailAddress;
  readonly to: readonly EmailAddress[];
  readonly cc: readonly EmailAddress[];
  readonly subject: string;
  readonly text: string;
  readonly html: string | null;
  /** Without angle brackets. */
  readonly messageId: string;
  readonly inReplyTo: string | null;
  /** Oldest first, without angle brackets. */
  readonly references: readonly string[];
  readonly date: Date;
  /** Files to attach (their filenames are encoded per RFC 2231 where they need it). */
  readonly attachments?: readonly { readonly filename: string | null; readonly contentType: string; readonly content: Buffer }[];
}

const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'crlf' });

const format = (a: EmailAddress) => (a.name ? { name: a.name, address: a.address } : a.address);

/** The raw RFC 5322 bytes of the message (CRLF line ends). */
export async function composeEmail(m: OutgoingEmail): Promise<Buffer> {
  const info = await composer.sendMail({
    from: format(m.from),
    to: m.to.map(format),
    cc: m.cc.length ? m.cc.map(format) : undefined,
    subject: m.subject,
    text: m.text,
    html: m.html ?? undefined,
    messageId: `<${m.messageId}>`,
    inReplyTo: m.inReplyTo ? `<${m.inReplyTo}>` : undefined,
    references: m.references.length ? m.references.map((r) => `<${r}>`) : undefined,
    date: m.date,
    attachments: m.attachments?.map((a) => ({ filename: a.filename ?? undefined, contentType: a.contentType, content: a.content })),
  });
  return info.message as Buffer;
}
