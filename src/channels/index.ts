/**
 * The channel adapters this server sends with, one per channel (email sends through
 * services/send-email.ts, not an adapter).
 */
import type { Config } from '../config.js';
import type { ChannelAdapters } from '../services/send-channel.js';
import { twilioAdapter } from './twilio/adapter.js';

/** The adapters for a configuration (tests may pass their own to `buildApp`). */
export function defaultAdapters(config: Config): ChannelAdapters {
  return {
    sms: twilioAdapter({ timeoutMs: config.providerTimeoutMs, publicUrl: config.publicUrl }),
  };
}
