/**
 * The channel adapters this server sends with, one per channel (email sends through
 * services/send-email.ts, not an adapter).
 */
import type { Config } from '../config.js';
import type { ChannelAdapters } from '../services/send-channel.js';
import { blueBubblesAdapter } from './bluebubbles/adapter.js';
import { HttpChannelAdapter } from './http/adapter.js';
import { twilioAdapter } from './twilio/adapter.js';

/**
 * The adapters for a configuration (tests may pass their own to `buildApp`). The HTTP
 * channel serves `linkedin` (through a LinkedIn messaging provider) and `http` alike.
 */
export function defaultAdapters(config: Config): ChannelAdapters {
  return {
    imessage: blueBubblesAdapter({ timeoutMs: config.providerTimeoutMs, outboundAllowPrivate: config.outboundAllowPrivate }),
    linkedin: new HttpChannelAdapter('linkedin', config),
    http: new HttpChannelAdapter('http', config),
    sms: twilioAdapter({
      timeoutMs: config.providerTimeoutMs, publicUrl: config.publicUrl, mediaUrlSecret: config.mediaUrlSecret, outboundAllowPrivate: config.outboundAllowPrivate,
    }),
  };
}
