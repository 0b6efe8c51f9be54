import { useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type FormEvent } from 'react';
import { api, unwrap } from '../api/client';
import type { ConversationSnapshot } from '../api/types';
import { idempotencyKey } from '../data/actions';
import { refreshConversation } from '../data/cache';
import { byteSize } from '../format/time';
import { useShortcut } from '../keyboard/shortcuts';
import { CHANNEL_NAMES } from '../ui/ChannelIcon';
import { showError } from '../ui/toasts';

type Upload = { readonly id: string; readonly name: string; readonly size: number };

/**
 * The reply box: text and attachments (uploaded first, `POST /v1/media`), sent by
 * conversation id; the server works out recipient, subject and threading. `r` focuses it,
 * Ctrl+Enter (⌘+Enter) sends.
 */
export function Composer({ snapshot, disabled }: { readonly snapshot: ConversationSnapshot; readonly disabled: boolean }) {
  const qc = useQueryClient();
  const [text, setText] = useState('');
  const [uploads, setUploads] = useState<readonly Upload[]>([]);
  const [uploading, setUploading] = useState(0);
  const [sending, setSending] = useState(false);
  // One key per logical send, kept across a failed attempt so its retry cannot send twice;
  // a change to what is sent makes it another send.
  const sendKey = useRef<string | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  useShortcut('r', () => box.current?.focus(), !disabled);

  async function attach(files: FileList | null) {
    for (const file of files ?? []) {
      setUploading((n) => n + 1);
      try {
        const form = new FormData();
        form.append('file', file);
        const media = unwrap(await api.POST('/v1/media', {
          // The typed body names the field; the multipart form carries the file itself.
          body: { file: file.name },
          bodySerializer: () => form,
        }));
        setUploads((u) => [...u, { id: media.id, name: media.filename ?? file.name, size: media.size_bytes }]);
        sendKey.current = null;
      } catch (err) {
        showError(err);
      } finally {
        setUploading((n) => n - 1);
      }
    }
  }

  async function send(e?: FormEvent) {
    e?.preventDefault();
    const body = text.trim();
    if (!body || sending || disabled) return;
    setSending(true);
    try {
      unwrap(await api.POST('/v1/conversations/{id}/messages', {
        params: { path: { id: snapshot.id }, header: { 'idempotency-key': (sendKey.current ??= idempotencyKey()) } },
        body: uploads.length ? { text, media_ids: uploads.map((u) => u.id) } : { text },
      }));
      setText('');
      setUploads([]);
      sendKey.current = null;
    } catch (err) {
      showError(err);
    } finally {
      setSending(false);
      void refreshConversation(qc, snapshot.id);
    }
  }

  const via = snapshot.sender ? `${CHANNEL_NAMES[snapshot.channel]} from ${snapshot.sender.address}` : CHANNEL_NAMES[snapshot.channel];
  return (
    <form className="composer" onSubmit={(e) => void send(e)}>
      <textarea
        ref={box}
        aria-label="Reply"
        aria-describedby="composer-via"
        placeholder={disabled ? 'Replies are paused for this conversation' : 'Write a reply…  (r)'}
        value={text}
        disabled={disabled}
        rows={3}
        onChange={(e) => {
          setText(e.target.value);
          sendKey.current = null;
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send();
        }}
      />
      {uploads.length > 0 && (
        <ul className="uploads" aria-label="Attachments to send">
          {uploads.map((u) => (
            <li key={u.id}>
              {u.name} <span className="muted">{byteSize(u.size)}</span>{' '}
              <button type="button" className="icon-button" aria-label={`Remove ${u.name}`} onClick={() => {
                setUploads((all) => all.filter((x) => x.id !== u.id));
                sendKey.current = null;
              }}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-actions">
        <span id="composer-via" className="muted via">
          Via {via}
        </span>
        <label className={`attach${disabled ? ' disabled' : ''}`}>
          <input type="file" multiple disabled={disabled} className="visually-hidden" onChange={(e) => {
            void attach(e.target.files);
            e.target.value = '';
          }} />
          {uploading > 0 ? 'Uploading…' : 'Attach'}
        </label>
        <button type="submit" className="primary" disabled={disabled || sending || uploading > 0 || !text.trim()}>
          Send
        </button>
      </div>
    </form>
  );
}
