/**
 * Delivery of composed mail: through the mailbox's SMTP relay (nodemailer SMTP
 * transport), or, with no relay configured, the capture transport, which only keeps
 * the message in the store (development and tests).
 */
import nodemailer from 'nodemailer';
import type { SmtpRelay } from '../services/identities.js';

export interface Envelope {
  readonly from: string;
  readonly to: readonly string[];
}

export interface DeliveryResult {
  readonly transport: 'smtp' | 'capture';
  /** The relay's final reply, e.g. `250 2.0.0 OK`. */
  readonly response: string | null;
}

/** Timeouts for one relay conversation, ms. */
const RELAY_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

/**
 * Delivers `raw` to the envelope recipients.
 *
 * @throws Error from the relay (connection refused, timeout, 4xx/5xx reply).
 */
export async function deliverEmail(relay: SmtpRelay | null, envelope: Envelope, raw: Buffer): Promise<DeliveryResult> {
  if (!relay) return { transport: 'capture', response: null };
  const transport = nodemailer.createTransport({
    host: relay.host,
    port: relay.port,
    secure: relay.secure,
    auth: relay.user ? { user: relay.user, pass: relay.password ?? '' } : undefined,
    ...RELAY_TIMEOUTS,
  });
  try {
    const info = await transport.sendMail({ envelope: { from: envelope.from, to: [...envelope.to] }, raw });
    return { transport: 'smtp', response: (info as { response?: string }).response ?? null };
  } finally {
    transport.close();
  }
}
