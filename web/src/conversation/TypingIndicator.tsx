import { useTyping } from '../live/typing';

/** "typing…" while the person types (live `typing` signals of the stream). */
export function TypingIndicator({ conversationId }: { readonly conversationId: string }) {
  const typing = useTyping(conversationId);
  return (
    <div className="typing" role="status" aria-live="polite">
      {typing ? 'typing…' : ''}
    </div>
  );
}
