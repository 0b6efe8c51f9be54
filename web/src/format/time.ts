/**
 * Times as a person reads them in a list: "now", "5 min", "14:05" (today), "Mon" (this
 * week), "12 Mar" (this year), "12 Mar 2023"; the full date for a title.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const weekday = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dayMonthYear = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

/** A short time relative to `now` (both in ms since the epoch). */
export function relativeTime(at: number, now: number): string {
  const ago = now - at;
  if (ago < MINUTE && ago > -MINUTE) return 'now';
  if (ago > 0 && ago < HOUR) return `${Math.floor(ago / MINUTE)} min`;
  const date = new Date(at);
  const today = new Date(now);
  if (date.toDateString() === today.toDateString()) return clock.format(date);
  if (ago > 0 && ago < 6 * DAY) return weekday.format(date);
  if (date.getFullYear() === today.getFullYear()) return dayMonth.format(date);
  return dayMonthYear.format(date);
}

/** The full date and time, for a title. */
export function fullTime(at: number): string {
  return full.format(new Date(at));
}

/** A duration in seconds as "3 min 05 s" or "42 s". */
export function duration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m > 0 ? `${m} min ${String(s).padStart(2, '0')} s` : `${s} s`;
}

/** A size in bytes as "512 B", "12 KB", "3.4 MB". */
export function byteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
