/**
 * The app's routes, read from the address bar (the server answers every page path with
 * the app):
 *
 * - `/login?token=…`: a sign-in link;
 * - `/` and `/views/{view_id}`: a view's conversations;
 * - `/c/{conversation_id}` and `/views/{view_id}/c/{conversation_id}`: one open;
 *
 * with the list's filters in the query string (`q`, `identity`, `channel`, `assignee`).
 */
import { useSyncExternalStore } from 'react';

export const DEFAULT_VIEW = 'view_recents';

export type ListFilters = {
  readonly q: string;
  readonly identity: string;
  readonly channel: string;
  readonly assignee: string;
};

export type Route =
  | { readonly page: 'login'; readonly token: string | null }
  | { readonly page: 'inbox'; readonly viewId: string; readonly conversationId: string | null; readonly filters: ListFilters };

const FILTER_NAMES = ['q', 'identity', 'channel', 'assignee'] as const;

function parse(href: string): Route {
  const url = new URL(href);
  if (url.pathname === '/login') return { page: 'login', token: url.searchParams.get('token') };
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let viewId = DEFAULT_VIEW;
  let conversationId: string | null = null;
  if (parts[0] === 'views' && parts[1]) {
    viewId = parts[1];
    if (parts[2] === 'c' && parts[3]) conversationId = parts[3];
  } else if (parts[0] === 'c' && parts[1]) {
    conversationId = parts[1];
  }
  const filters = Object.fromEntries(FILTER_NAMES.map((n) => [n, url.searchParams.get(n) ?? ''])) as ListFilters;
  return { page: 'inbox', viewId, conversationId, filters };
}

/** The path of an inbox route, filters included. */
export function inboxPath(viewId: string, conversationId: string | null, filters: ListFilters): string {
  let path = viewId === DEFAULT_VIEW ? '' : `/views/${encodeURIComponent(viewId)}`;
  if (conversationId) path += `/c/${encodeURIComponent(conversationId)}`;
  const search = new URLSearchParams();
  for (const n of FILTER_NAMES) if (filters[n]) search.set(n, filters[n]);
  const qs = search.toString();
  return (path || '/') + (qs ? `?${qs}` : '');
}

const listeners = new Set<() => void>();
let current = parse(window.location.href);
let currentHref = window.location.href;

function refresh(): void {
  if (window.location.href === currentHref) return;
  currentHref = window.location.href;
  current = parse(currentHref);
  for (const l of listeners) l();
}

window.addEventListener('popstate', refresh);

/** Goes to `path` (a new history entry, or in place with `replace`). */
export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  refresh();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The current route; re-renders on every navigation. */
export function useRoute(): Route {
  return useSyncExternalStore(subscribe, () => current);
}
