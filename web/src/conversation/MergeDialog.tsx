import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { ConversationSnapshot } from '../api/types';
import { RelativeTime } from '../ui/RelativeTime';

/**
 * Picks another conversation of the same identity to merge with this one
 * (`POST /v1/conversations/{id}/merge`); the older of the two survives.
 */
export function MergeDialog({ snapshot, onClose, onMerge }: {
  readonly snapshot: ConversationSnapshot;
  readonly onClose: () => void;
  readonly onMerge: (otherId: string) => Promise<void>;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [q, setQ] = useState(snapshot.counterpart ?? '');
  const [debounced, setDebounced] = useState(q);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  useEffect(() => {
    const t = setTimeout(() => setDebounced(q.trim()), 300);
    return () => clearTimeout(t);
  }, [q]);

  const candidates = useQuery({
    queryKey: ['merge-candidates', snapshot.identity_id, debounced],
    queryFn: async ({ signal }) =>
      unwrap(await api.GET('/v1/conversations', {
        params: { query: { identity_id: snapshot.identity_id, limit: 20, ...(debounced ? { q: debounced.slice(0, 200) } : {}) } },
        signal,
      })).data.filter((c) => c.id !== snapshot.id),
  });

  return (
    <dialog ref={dialog} className="dialog" aria-labelledby="merge-title" onClose={onClose}>
      <h2 id="merge-title">Merge with another conversation</h2>
      <p className="muted">Both timelines become one; the older conversation keeps its id.</p>
      <input type="search" aria-label="Find a conversation" value={q} onChange={(e) => setQ(e.target.value)} autoFocus />
      <div className="merge-candidates">
        {candidates.isPending && <p className="muted">Searching…</p>}
        {candidates.data?.length === 0 && <p className="muted">No other conversation of this identity matches.</p>}
        {candidates.data?.map((c) => (
          <button
            key={c.id}
            type="button"
            className="merge-candidate"
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              await onMerge(c.id);
              setBusy(false);
            }}
          >
            <strong>{c.subject || '(no subject)'}</strong>
            <span>
              {c.counterpart} · <RelativeTime at={c.last_event_at} />
            </span>
          </button>
        ))}
      </div>
      <div className="dialog-actions">
        <button type="button" onClick={() => dialog.current?.close()}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
