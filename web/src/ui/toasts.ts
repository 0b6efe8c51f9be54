/**
 * Messages for the person (mostly failed API calls), shown by `<Toasts>`: a small store
 * any module may push to.
 */
import { useSyncExternalStore } from 'react';
import { ApiError } from '../api/problem';

export type Toast = { readonly id: number; readonly title: string; readonly detail: string | null };

const listeners = new Set<() => void>();
let toasts: readonly Toast[] = [];
let nextId = 1;

function emit(): void {
  for (const l of listeners) l();
}

/** Shows a message; the same one already on screen is not repeated. */
export function showToast(title: string, detail: string | null = null): void {
  if (toasts.some((t) => t.title === title && t.detail === detail)) return;
  const toast = { id: nextId++, title, detail };
  toasts = [...toasts.slice(-3), toast];
  emit();
  setTimeout(() => dismissToast(toast.id), 8_000);
}

/** Shows what went wrong: an API problem's detail and fix, or any other error's message. */
export function showError(err: unknown): void {
  if (err instanceof ApiError) showToast(err.detail, err.fix);
  else showToast(err instanceof Error ? err.message : String(err));
}

export function dismissToast(id: number): void {
  toasts = toasts.filter((t) => t.id !== id);
  emit();
}

export function useToasts(): readonly Toast[] {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => toasts,
  );
}
