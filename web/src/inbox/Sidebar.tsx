import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { signOut, useSignedIn } from '../auth/session';
import { useIdentities, useViewCounts, useViews } from '../data/directory';
import type { ListFilters } from '../routing/router';
import { showError } from '../ui/toasts';
import type { InboxNavigation } from './Inbox';

/** The views with live counts, the identity filter (when there are several), the person and sign-out. */
export function Sidebar({ viewId, filters, nav, onClose }: {
  readonly viewId: string;
  readonly filters: ListFilters;
  readonly nav: InboxNavigation;
  readonly onClose: () => void;
}) {
  const qc = useQueryClient();
  const session = useSignedIn();
  const views = useViews();
  const counts = useViewCounts(filters.identity || undefined);
  const identities = useIdentities();
  const [leaving, setLeaving] = useState(false);

  return (
    <nav className="sidebar" aria-label="Views">
      <div className="sidebar-head">
        <span className="brand">Switchboard</span>
        <button type="button" className="icon-button menu-close" aria-label="Close menu" onClick={onClose}>
          ×
        </button>
      </div>
      <ul className="views">
        {views.data?.map((view) => {
          const count = counts.data?.get(view.id);
          return (
            <li key={view.id}>
              <a
                href={nav.viewHref(view.id)}
                aria-current={view.id === viewId ? 'page' : undefined}
                onClick={(e) => {
                  if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                  e.preventDefault();
                  nav.openView(view.id);
                }}
              >
                <span className="view-name">{view.name}</span>
                {count && (
                  <span className="view-count" title={`${count.unread} unread of ${count.total}`}>
                    {count.unread > 0 ? <strong>{count.unread.toLocaleString()}</strong> : count.total.toLocaleString()}
                  </span>
                )}
              </a>
            </li>
          );
        })}
      </ul>
      {identities.data && identities.data.length > 1 && (
        <label className="identity-filter">
          <span>Identity</span>
          <select value={filters.identity} onChange={(e) => nav.setFilters({ ...filters, identity: e.target.value })}>
            <option value="">All identities</option>
            {identities.data.map((i) => (
              <option key={i.id} value={i.id}>
                {i.display_name ?? i.handle}
              </option>
            ))}
          </select>
        </label>
      )}
      <div className="me">
        <div className="me-name">
          <strong>{session.member.name ?? session.member.email}</strong>
          <span>{session.member.email}</span>
        </div>
        <button
          type="button"
          disabled={leaving}
          onClick={() => {
            setLeaving(true);
            signOut(qc).catch((err: unknown) => {
              setLeaving(false);
              showError(err);
            });
          }}
        >
          Sign out
        </button>
      </div>
    </nav>
  );
}
