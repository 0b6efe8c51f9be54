import type { ConversationSnapshot } from '../api/types';

/** Why a reply cannot go out now, or null when it can. */
export function replyBlocked(snapshot: ConversationSnapshot): string | null {
  if (snapshot.connection_status === 'released') {
    return 'The person ended this shared-line connection (or it was released). Replies cannot reach them until they text the routing code again.';
  }
  if (snapshot.sender_disconnected) {
    if (!snapshot.sender) return 'The account this conversation was sent through was deleted, so replies cannot go out.';
    const state = snapshot.sender.status === 'error' ? 'failing' : snapshot.sender.status;
    const reason = snapshot.sender.status_reason ? ` (${snapshot.sender.status_reason})` : '';
    return `The sending account ${snapshot.sender.address} is ${state}${reason}. Replies cannot go out until it is reconnected.`;
  }
  return null;
}

/** The amber banner over a conversation that cannot be answered. */
export function SenderBanner({ snapshot }: { readonly snapshot: ConversationSnapshot }) {
  return (
    <div className="banner warning" role="status">
      <strong>Replies are paused.</strong> {replyBlocked(snapshot)}
    </div>
  );
}
