import { useState, type FormEvent } from 'react';
import type { ConversationSnapshot } from '../api/types';
import { useConversationActions } from '../data/actions';
import { CHANNEL_NAMES } from '../ui/ChannelIcon';
import { RelativeTime } from '../ui/RelativeTime';

const HEALTHY = new Set(['connected', 'active', 'warming']);

/** An attribute's key as a label: `plan_tier` → "Plan tier". */
const humanize = (key: string): string => {
  const words = key.replace(/[_-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** Who the conversation is with (the contact and what enrichment knows), the sending account's health, labels and notes. */
export function ParticipantPanel({ snapshot, open }: { readonly snapshot: ConversationSnapshot; readonly open: boolean }) {
  const contact = snapshot.contact;
  const sender = snapshot.sender;
  const attributes = Object.entries(contact?.attributes ?? {}).filter(([, v]) => v !== null && v !== '');
  return (
    <aside id="participant-panel" className={`participant-panel${open ? ' open' : ''}`} aria-label="Details">
      <section>
        <h3>Contact</h3>
        {contact ? (
          <div className="contact">
            {contact.avatar_url && /^https:\/\//i.test(contact.avatar_url) && <img className="avatar" src={contact.avatar_url} alt="" width={40} height={40} referrerPolicy="no-referrer" />}
            <div>
              <strong>{contact.display_name ?? snapshot.counterpart}</strong>
              {(contact.position || contact.company) && <p>{[contact.position, contact.company].filter(Boolean).join(' at ')}</p>}
              {contact.headline && <p className="muted">{contact.headline}</p>}
            </div>
          </div>
        ) : (
          <p>{snapshot.counterpart ?? 'Unknown'}</p>
        )}
        {contact && contact.addresses.length > 0 && (
          <dl className="facts">
            {contact.addresses.map((a) => (
              <div key={`${a.channel}:${a.address}`}>
                <dt>{CHANNEL_NAMES[a.channel]}</dt>
                <dd>{a.address}</dd>
              </div>
            ))}
          </dl>
        )}
        {attributes.length > 0 && (
          <dl className="facts">
            {attributes.map(([k, v]) => (
              <div key={k}>
                <dt>{humanize(k)}</dt>
                <dd>{String(v)}</dd>
              </div>
            ))}
          </dl>
        )}
      </section>
      <section>
        <h3>Sending account</h3>
        {sender ? (
          <dl className="facts">
            <div>
              <dt>{CHANNEL_NAMES[sender.channel]}</dt>
              <dd>{sender.display_name ? `${sender.display_name} <${sender.address}>` : sender.address}</dd>
            </div>
            <div>
              <dt>Status</dt>
              <dd className={HEALTHY.has(sender.status) && !snapshot.sender_disconnected ? 'health-ok' : 'health-bad'}>
                {sender.status}
                {sender.status_reason ? `: ${sender.status_reason}` : ''}
              </dd>
            </div>
            {snapshot.connection_status && (
              <div>
                <dt>Shared line</dt>
                <dd className={snapshot.connection_status === 'active' ? 'health-ok' : 'health-bad'}>{snapshot.connection_status}</dd>
              </div>
            )}
          </dl>
        ) : (
          <p className="health-bad">The account was deleted.</p>
        )}
      </section>
      <Labels snapshot={snapshot} />
      <section>
        <h3>Timers</h3>
        <dl className="facts">
          <div>
            <dt>Response due</dt>
            <dd className={snapshot.overdue ? 'health-bad' : undefined}>
              {snapshot.sla_due_at ? <RelativeTime at={snapshot.sla_due_at} /> : 'none'}
              {snapshot.overdue ? ' (overdue)' : ''}
            </dd>
          </div>
          <div>
            <dt>No reply by</dt>
            <dd>{snapshot.no_reply_at ? <RelativeTime at={snapshot.no_reply_at} /> : 'none'}</dd>
          </div>
        </dl>
        {snapshot.merged_from.length > 0 && <p className="muted">Merged from {snapshot.merged_from.length} other conversation(s).</p>}
      </section>
      <NoteForm conversationId={snapshot.id} />
    </aside>
  );
}

function Labels({ snapshot }: { readonly snapshot: ConversationSnapshot }) {
  const actions = useConversationActions(snapshot.id);
  const [label, setLabel] = useState('');
  const add = (e: FormEvent) => {
    e.preventDefault();
    const name = label.trim();
    if (!name) return;
    setLabel('');
    void actions.addLabel(name, snapshot.labels);
  };
  return (
    <section>
      <h3>Labels</h3>
      <div className="labels">
        {snapshot.labels.length === 0 && <span className="muted">None</span>}
        {snapshot.labels.map((l) => (
          <span key={l} className="badge label">
            {l}
            <button type="button" className="icon-button" aria-label={`Remove label ${l}`} onClick={() => void actions.removeLabel(l, snapshot.labels)}>
              ×
            </button>
          </span>
        ))}
      </div>
      <form className="inline-form" onSubmit={add}>
        <input aria-label="New label" placeholder="Add a label" value={label} maxLength={100} onChange={(e) => setLabel(e.target.value)} />
        <button type="submit" disabled={!label.trim()}>
          Add
        </button>
      </form>
    </section>
  );
}

function NoteForm({ conversationId }: { readonly conversationId: string }) {
  const actions = useConversationActions(conversationId);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <section>
      <h3>Internal note</h3>
      <form
        className="note-form"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!text.trim()) return;
          setBusy(true);
          if (await actions.addNote(text.trim())) setText('');
          setBusy(false);
        }}
      >
        <textarea aria-label="Note" placeholder="Only your team sees notes" rows={2} value={text} onChange={(e) => setText(e.target.value)} />
        <button type="submit" disabled={busy || !text.trim()}>
          Add note
        </button>
      </form>
    </section>
  );
}
