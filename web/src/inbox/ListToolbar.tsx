import { useEffect, useRef, useState } from 'react';
import { useShortcut } from '../keyboard/shortcuts';
import type { ListFilters } from '../routing/router';
import { CHANNEL_NAMES } from '../ui/ChannelIcon';
import type { InboxNavigation } from './Inbox';

const SEARCH_DEBOUNCE_MS = 300;

/** Full-text search (`/` to focus) and the list's filters: channel, assignee. */
export function ListToolbar({ filters, nav, onMenu }: { readonly filters: ListFilters; readonly nav: InboxNavigation; readonly onMenu: () => void }) {
  const [q, setQ] = useState(filters.q);
  const input = useRef<HTMLInputElement>(null);
  useShortcut('/', () => input.current?.focus());

  // The box follows the address (back, another view) unless the person is typing in it.
  useEffect(() => {
    if (document.activeElement !== input.current) setQ(filters.q);
  }, [filters.q]);

  useEffect(() => {
    if (q === filters.q) return;
    const timer = setTimeout(() => nav.setFilters({ ...filters, q }), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [q, filters, nav]);

  return (
    <div className="list-toolbar">
      <div className="search-row">
        <button type="button" className="menu-button" aria-label="Views" onClick={onMenu}>
          ☰
        </button>
        <input
          ref={input}
          type="search"
          className="search"
          aria-label="Search conversations"
          placeholder="Search  /"
          value={q}
          maxLength={200}
          onChange={(e) => setQ(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') nav.setFilters({ ...filters, q });
          }}
        />
      </div>
      <div className="filter-row">
        <select aria-label="Channel" value={filters.channel} onChange={(e) => nav.setFilters({ ...filters, channel: e.target.value })}>
          <option value="">All channels</option>
          {Object.entries(CHANNEL_NAMES).map(([value, name]) => (
            <option key={value} value={value}>
              {name}
            </option>
          ))}
        </select>
        <select aria-label="Assigned to" value={filters.assignee} onChange={(e) => nav.setFilters({ ...filters, assignee: e.target.value })}>
          <option value="">Anyone</option>
          <option value="me">Me</option>
          <option value="none">Unassigned</option>
        </select>
      </div>
    </div>
  );
}
