/**
 * Channel addresses in their canonical forms, so one person is one address: E.164 phone
 * numbers (ITU-T E.164, via libphonenumber-js), lower-cased emails, trimmed handles.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type { Channel } from './events.js';

/**
 * A phone number in E.164 (`+14155550100`), or null when it is not a valid number.
 *
 * @param defaultCountry ISO 3166-1 alpha-2 country for numbers written without `+` (none by default).
 */
export function toE164(input: string, defaultCountry?: string): string | null {
  const parsed = parsePhoneNumberFromString(input.trim(), defaultCountry as never);
  return parsed?.isValid() ? parsed.number : null;
}

/**
 * The canonical form of an address on a channel, or null when it is not one: SMS takes
 * phone numbers (E.164); iMessage phone numbers (E.164) or emails (lower-cased); email
 * lower-cased; the HTTP channels any non-empty id (trimmed).
 */
export function canonicalAddress(channel: Channel, input: string): string | null {
  const text = input.trim();
  if (!text) return null;
  switch (channel) {
    case 'sms':
      return toE164(text);
    case 'imessage':
      return text.includes('@') ? text.toLowerCase() : toE164(text);
    case 'email':
      return text.includes('@') ? text.toLowerCase() : null;
    case 'linkedin':
    case 'http':
      return text;
  }
}
