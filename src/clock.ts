/**
 * The time source of everything that schedules (timers, SLA deadlines, webhook retries).
 * Production uses the system clock; tests pass a clock they move by hand, so timers are
 * tested without sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to (tests). */
export class ManualClock implements Clock {
  #ms: number;

  constructor(startMs: number = Date.now()) {
    this.#ms = startMs;
  }

  now(): number {
    return this.#ms;
  }

  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.#ms += ms;
  }
}

/** `clock.now()` as RFC 3339. */
export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
