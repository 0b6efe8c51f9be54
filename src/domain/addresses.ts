/**
 * Channel addresses in their canonical forms, so one person is one address: E.164 phone
 * numbers (ITU-T E.164, via libphonenumber-js), lower-cased emails (checked with the
 * `email` format the API's schemas use, ajv-formats), trimmed provider ids (kept as
 * written: LinkedIn ids are case-sensitive).
 */
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type { Channel } from './events.js';

const EMAIL = fullFormats.email as RegExp;

/** Whether `text` is an email address (`local@domain`, as JSON Schema's `email` format). */
export function isEmailAddress(text: string): boolean {
  return text.length <= 320 && EMAIL.test(text);
}

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
      if (!text.includes('@')) return toE164(text);
      return isEmailAddress(text) ? text.toLowerCase() : null;
    case 'email':
      return isEmailAddress(text) ? text.toLowerCase() : null;
    case 'linkedin':
    case 'http':
      return text;
  }
}

/** What an address looks like on each channel, for error messages and docs. */
export const ADDRESS_FORMS: Readonly<Record<Channel, string>> = {
  email: 'an email address',
  sms: 'a phone number with its country code, like +14155550100 (stored in E.164)',
  imessage: 'a phone number with its country code (stored in E.164) or an email address',
  linkedin: 'the provider\'s id of the person (a LinkedIn profile id or URN)',
  http: 'the provider\'s id of the person',
};

/**
 * An address written without its channel, as a lookup key: an email lower-cased, a phone
 * number in E.164, anything else (a provider id) trimmed.
 */
export function anyChannelAddress(input: string): string {
  const text = input.trim();
  if (text.includes('@')) return text.toLowerCase();
  return toE164(text) ?? text;
}
