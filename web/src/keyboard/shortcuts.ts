/**
 * Single-key shortcuts (j, k, o, Enter, r, e, /, Escape), one document listener for all.
 * Keys typed into a text field stay there, except Escape, which leaves the field; Enter on
 * a link or button keeps its own meaning; keys with Ctrl, Alt or Meta are the browser's.
 */
import { useEffect, useLayoutEffect, useRef } from 'react';

type Handler = (e: KeyboardEvent) => void;

const handlers = new Map<string, Handler[]>();

function isEditable(el: Element | null): boolean {
  if (!(el instanceof HTMLElement)) return false;
  if (el.isContentEditable) return true;
  if (el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) return true;
  return el instanceof HTMLInputElement && !['checkbox', 'radio', 'button', 'submit', 'reset', 'file'].includes(el.type);
}

const isActivatable = (el: Element | null): boolean => el instanceof Element && el.closest('a[href], button, summary, [role="button"]') !== null;

function onKeyDown(e: KeyboardEvent): void {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
  const target = e.target instanceof Element ? e.target : null;
  if (target?.closest('dialog')) return;
  if (isEditable(target)) {
    if (e.key === 'Escape' && target instanceof HTMLElement) {
      e.preventDefault();
      target.blur();
    }
    return;
  }
  if (e.key === 'Enter' && isActivatable(target)) return;
  const list = handlers.get(e.key);
  const handler = list?.[list.length - 1];
  if (!handler) return;
  e.preventDefault();
  handler(e);
}

document.addEventListener('keydown', onKeyDown);

/**
 * Runs `handler` when `key` (a `KeyboardEvent.key`) is pressed outside a text field, while
 * the calling component is mounted and `enabled`. The most recently mounted handler of a
 * key wins.
 */
export function useShortcut(key: string, handler: Handler, enabled = true): void {
  const ref = useRef(handler);
  useLayoutEffect(() => {
    ref.current = handler;
  });
  useEffect(() => {
    if (!enabled) return;
    const h: Handler = (e) => ref.current(e);
    const list = handlers.get(key) ?? [];
    list.push(h);
    handlers.set(key, list);
    return () => {
      const i = list.indexOf(h);
      if (i >= 0) list.splice(i, 1);
    };
  }, [key, enabled]);
}
