import { useSyncExternalStore } from 'react';
import { fullTime, relativeTime } from '../format/time';

/** One clock for every relative time on screen, ticking each minute. */
const listeners = new Set<() => void>();
let now = Date.now();
let timer: ReturnType<typeof setInterval> | null = null;

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (!timer) {
    now = Date.now();
    timer = setInterval(() => {
      now = Date.now();
      for (const l of listeners) l();
    }, 30_000);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

/** "5 min", "Mon", "12 Mar", with the full date as its title. */
export function RelativeTime({ at, className }: { readonly at: string; readonly className?: string }) {
  const current = useSyncExternalStore(subscribe, () => now);
  const ms = Date.parse(at);
  return (
    <time dateTime={at} title={fullTime(ms)} className={className}>
      {relativeTime(ms, current)}
    </time>
  );
}
