/**
 * Who is typing: the person's live `typing` signals, per conversation. A "started" that is
 * never followed by "stopped" (a lost signal) fades after a few seconds.
 */
import { useSyncExternalStore } from 'react';

const TYPING_TTL_MS = 8_000;
const until = new Map<string, number>();
const timers = new Map<string, ReturnType<typeof setTimeout>>();
const listeners = new Set<() => void>();

function emit(): void {
  for (const l of listeners) l();
}

/** Records the person typing (`true`) or not (`false`) in conversation `id`. */
export function setTyping(id: string, typing: boolean): void {
  clearTimeout(timers.get(id));
  timers.delete(id);
  if (typing) {
    until.set(id, Date.now() + TYPING_TTL_MS);
    timers.set(id, setTimeout(() => setTyping(id, false), TYPING_TTL_MS));
  } else if (!until.delete(id)) {
    return;
  }
  emit();
}

/** Whether the person is typing in conversation `id`. */
export function useTyping(id: string): boolean {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => until.has(id),
  );
}
