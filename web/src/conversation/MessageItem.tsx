import type { MessageStatus } from '../api/types';
import { byteSize } from '../format/time';
import { RelativeTime } from '../ui/RelativeTime';
import { EmailFrame } from './EmailFrame';
import { PlainText } from './PlainText';
import type { TimelineItem } from './timeline-model';

const STATUS_LABELS: Record<MessageStatus, string> = {
  queued: 'Queued',
  deferred: 'Deferred, retrying',
  sent: 'Sent',
  captured: 'Captured (no relay)',
  delivered: 'Delivered',
  read: 'Read',
  bounced: 'Bounced',
  failed: 'Failed',
};

const REACTION_EMOJI: Record<string, string> = { love: '❤️', like: '👍', dislike: '👎', laugh: '😂', emphasize: '‼️', question: '❓' };

type MessageTimelineItem = Extract<TimelineItem, { kind: 'message' }>;

/** One message: who wrote to whom, when, its body (mail HTML in a sandboxed frame, else text), attachments and delivery status. */
export function MessageItem({ item }: { readonly item: MessageTimelineItem }) {
  const m = item.event.data;
  const outbound = m.direction === 'outbound';
  const from = m.from ? (m.from.name ? `${m.from.name} <${m.from.address}>` : m.from.address) : outbound ? 'You' : 'Unknown sender';
  const to = m.to.map((a) => a.name ?? a.address).join(', ');
  const attachments = m.media.filter((f) => !(f.content_id && m.html?.includes(`cid:${f.content_id.replace(/^<|>$/g, '')}`)));
  return (
    <article className={`message ${outbound ? 'outbound' : 'inbound'}`} aria-label={`${outbound ? 'Sent' : 'Message from'} ${m.from?.name ?? m.from?.address ?? ''}`.trim()}>
      <header className="message-head">
        <span className="message-from">{from}</span>
        {to && <span className="message-to muted">to {to}</span>}
        <RelativeTime at={item.event.at} className="message-time muted" />
        {outbound && (
          <span className={`status status-${item.status}`} title={item.error ?? undefined}>
            {STATUS_LABELS[item.status]}
          </span>
        )}
        {m.spoofed && <span className="badge danger" title="This mail claims one of our own addresses but failed DMARC alignment">Unverified sender</span>}
        {m.auto_submitted && <span className="badge">Auto-reply</span>}
      </header>
      {item.error && (item.status === 'failed' || item.status === 'bounced' || item.status === 'deferred') && <p className="message-error">{item.error}</p>}
      {m.html ? <EmailFrame message={m} /> : <PlainText text={m.text ?? m.snippet} />}
      {attachments.length > 0 && (
        <ul className="attachments" aria-label="Attachments">
          {attachments.map((f) => (
            <li key={f.id}>
              <a href={`/v1/media/${encodeURIComponent(f.id)}`} download={f.filename ?? undefined} target="_blank" rel="noopener">
                {f.filename ?? f.content_type}
              </a>{' '}
              <span className="muted">{byteSize(f.size_bytes)}</span>
            </li>
          ))}
        </ul>
      )}
      {item.reactions.length > 0 && (
        <p className="reactions">
          {item.reactions.map((r) => (
            <span key={`${r.inbound}:${r.reaction}`} className="reaction" title={`${r.reaction} by ${r.inbound ? 'them' : 'us'}`}>
              {REACTION_EMOJI[r.reaction] ?? r.reaction}
            </span>
          ))}
        </p>
      )}
    </article>
  );
}
