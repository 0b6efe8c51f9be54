import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { MessageData } from '../api/types';
import { useInlineImages } from '../html/inline-images';
import { emailDocument, sanitizeEmail } from '../html/sanitize-email';

/**
 * A mail's HTML, sanitized, in an `<iframe sandbox srcdoc>`: no scripts ever run there
 * (no `allow-scripts`), and a CSP of its own loads nothing remote until the person clicks
 * "Show remote images". Links open in a new tab (`allow-popups`).
 *
 * The frame keeps the app's origin (`allow-same-origin`, without `allow-scripts`, gives
 * the mail nothing to run with) only so that the app can read its laid-out height and
 * size it to fit: the mail is never rendered in the app's own document.
 */
export function EmailFrame({ message }: { readonly message: MessageData }) {
  const [showRemote, setShowRemote] = useState(false);
  const inline = useInlineImages(message.message_id, message.html, message.media);
  const sanitized = useMemo(
    () => (inline && message.html ? sanitizeEmail(message.html, { showRemote, inline }) : null),
    [message.html, showRemote, inline],
  );
  const srcDoc = useMemo(() => (sanitized ? emailDocument(sanitized.html, showRemote) : ''), [sanitized, showRemote]);
  const [frame, height, measure] = useFrameHeight();
  const sender = message.from?.name ?? message.from?.address ?? 'the sender';

  return (
    <div className="email">
      {sanitized && sanitized.remoteImages > 0 && !showRemote && (
        <div className="remote-images">
          <span>Remote images are hidden, so the sender cannot tell that you read this.</span>
          <button type="button" onClick={() => setShowRemote(true)}>
            Show remote images
          </button>
        </div>
      )}
      <div className="email-frame">
        <iframe
          ref={frame}
          title={`Message from ${sender}`}
          sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"
          referrerPolicy="no-referrer"
          srcDoc={srcDoc}
          onLoad={measure}
          style={{ height: height ? `${height}px` : undefined }}
        />
      </div>
    </div>
  );
}

/** The height of the frame's document, read on each load and whenever the frame's width changes. */
function useFrameHeight(): [React.RefObject<HTMLIFrameElement | null>, number | null, () => void] {
  const frame = useRef<HTMLIFrameElement>(null);
  const [height, setHeight] = useState<number | null>(null);
  const measure = useCallback(() => {
    // The body's own box (its height is its content's), not the document's, which is at least the frame's.
    const body = frame.current?.contentDocument?.body;
    if (body) setHeight(Math.ceil(Math.max(body.getBoundingClientRect().height, body.scrollHeight)) + 2);
  }, []);
  useEffect(() => {
    const el = frame.current;
    if (!el) return;
    let width = el.clientWidth;
    const observer = new ResizeObserver(() => {
      if (el.clientWidth === width) return;
      width = el.clientWidth;
      // Let the frame's height follow its content again before reading it.
      setHeight(null);
      requestAnimationFrame(measure);
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [measure]);
  return [frame, height, measure];
}
