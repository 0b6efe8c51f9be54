import { useQueryClient } from '@tanstack/react-query';
import { useRef, useState } from 'react';
import { api, unwrap } from '../api/client';
import { keys } from '../api/keys';
import type { Suggestion } from '../api/types';
import { idempotencyKey } from '../data/actions';
import { refreshConversation } from '../data/cache';
import { usePendingSuggestions } from '../data/conversations';
import { showError } from '../ui/toasts';

/** The pending drafts of agents for this conversation, each to send, edit then send, or dismiss. */
export function SuggestionCards({ conversationId, disabled }: { readonly conversationId: string; readonly disabled: boolean }) {
  const suggestions = usePendingSuggestions(conversationId);
  if (!suggestions.data?.length) return null;
  return (
    <div className="suggestions">
      {suggestions.data.map((s) => (
        <SuggestionCard key={s.id} suggestion={s} disabled={disabled} />
      ))}
    </div>
  );
}

function SuggestionCard({ suggestion: s, disabled }: { readonly suggestion: Suggestion; readonly disabled: boolean }) {
  const qc = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(s.text);
  const [busy, setBusy] = useState(false);
  // One key per logical send: a retry after a lost answer cannot send the draft twice;
  // an edit makes it another send.
  const sendKey = useRef<string | null>(null);

  const settle = async (call: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await call();
      qc.setQueryData<Suggestion[]>(keys.suggestions(s.conversation_id), (old) => old?.filter((x) => x.id !== s.id));
    } catch (err) {
      showError(err);
    } finally {
      setBusy(false);
      void qc.invalidateQueries({ queryKey: keys.suggestions(s.conversation_id) });
      void refreshConversation(qc, s.conversation_id);
    }
  };
  const params = { path: { id: s.conversation_id, sid: s.id } };
  const send = () =>
    settle(async () =>
      unwrap(await api.POST('/v1/conversations/{id}/suggestions/{sid}/send', {
        params: { ...params, header: { 'idempotency-key': (sendKey.current ??= idempotencyKey()) } },
        body: editing ? { text } : {},
      })));
  const dismiss = () => settle(async () => unwrap(await api.POST('/v1/conversations/{id}/suggestions/{sid}/dismiss', { params, body: {} })));

  const by = [s.agent, s.model].filter(Boolean).join(' · ');
  return (
    <article className="suggestion" aria-label="Suggested reply">
      <header className="suggestion-head">
        <strong>Suggested reply</strong>
        {by && <span className="muted"> · {by}</span>}
      </header>
      {editing ? (
        <>
          <textarea aria-label="Edit the suggested reply" value={text} onChange={(e) => {
            setText(e.target.value);
            sendKey.current = null;
          }} rows={Math.min(10, text.split('\n').length + 1)} />
          <details className="draft">
            <summary>Original draft</summary>
            <div className="plain-text">{s.text}</div>
          </details>
        </>
      ) : (
        <div className="plain-text">{s.text}</div>
      )}
      <div className="suggestion-actions">
        <button type="button" className="primary" disabled={busy || disabled || (editing && !text.trim())} onClick={() => void send()}>
          Send
        </button>
        {editing ? (
          <button type="button" disabled={busy} onClick={() => {
            setEditing(false);
            setText(s.text);
            sendKey.current = null;
          }}>
            Cancel
          </button>
        ) : (
          <button type="button" disabled={busy || disabled} onClick={() => {
            setEditing(true);
            sendKey.current = null;
          }}>
            Edit
          </button>
        )}
        <button type="button" disabled={busy} onClick={() => void dismiss()}>
          Dismiss
        </button>
      </div>
    </article>
  );
}
