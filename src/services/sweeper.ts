/**
 * A background loop for periodic work (timers, webhook deliveries): one run at a time,
 * every `intervalMs`, or sooner when kicked. Errors are logged and the loop goes on.
 */
import type { Logger } from 'pino';

export interface Sweeper {
  /** Runs the work now rather than at the next tick (again right after, if running). */
  kick(): void;
  /** Stops the loop and waits for a run in progress. */
  stop(): Promise<void>;
}

export function startSweeper(name: string, intervalMs: number, log: Logger, work: () => Promise<unknown>): Sweeper {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | null = null;
  let again = false;
  const tick = (): void => {
    if (stopped) return;
    if (current) {
      again = true;
      return;
    }
    clearTimeout(timer);
    current = (async () => {
      do {
        again = false;
        try {
          await work();
        } catch (err) {
          if (!stopped) log.error({ err }, `${name} failed`);
        }
      } while (again && !stopped);
    })().finally(() => {
      current = null;
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  timer = setTimeout(tick, 0);
  return {
    kick: tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
