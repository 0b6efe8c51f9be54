import type { Channel } from '../api/types';

/** The name of each channel, as shown to people. */
export const CHANNEL_NAMES: Record<Channel, string> = {
  email: 'Email',
  sms: 'SMS',
  imessage: 'iMessage',
  linkedin: 'LinkedIn',
  http: 'HTTP',
};

const PATHS: Record<Channel, string> = {
  email: 'M2 4h12v8H2z M2 4l6 5 6-5',
  sms: 'M2 3h12v8H6l-3 3v-3H2z',
  imessage: 'M8 2c3.3 0 6 2.2 6 5s-2.7 5-6 5c-.7 0-1.4-.1-2-.3L3 13l.7-2.4C2.6 9.7 2 8.4 2 7c0-2.8 2.7-5 6-5z',
  linkedin: 'M3 6h2v7H3z M4 2.5a1 1 0 1 1 0 2 1 1 0 0 1 0-2z M7 6h2v1c.5-.7 1.3-1.2 2.3-1.2 1.6 0 2.7 1 2.7 3V13h-2V9.3c0-1-.5-1.5-1.3-1.5S9 8.4 9 9.4V13H7z',
  http: 'M8 2a6 6 0 1 0 0 12A6 6 0 0 0 8 2z M2 8h12 M8 2c-2 2-2 10 0 12 M8 2c2 2 2 10 0 12',
};

/** A small icon of a conversation's channel, named for screen readers. */
export function ChannelIcon({ channel }: { readonly channel: Channel }) {
  return (
    <svg className="channel-icon" viewBox="0 0 16 16" width="14" height="14" role="img" aria-label={CHANNEL_NAMES[channel]}>
      <title>{CHANNEL_NAMES[channel]}</title>
      <path d={PATHS[channel]} fill={channel === 'linkedin' ? 'currentColor' : 'none'} stroke={channel === 'linkedin' ? 'none' : 'currentColor'} strokeWidth="1.3" strokeLinejoin="round" />
    </svg>
  );
}
