import { Fragment } from 'react';

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"')\]]+/g;

/** A message's text, line breaks kept, web addresses as links (opened in a new tab). */
export function PlainText({ text: raw }: { readonly text: string }) {
  const text = raw.trimEnd();
  const parts: (string | { url: string })[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = match[0].replace(/[.,;:!?]+$/, '');
    parts.push(text.slice(last, match.index), { url });
    last = match.index + url.length;
  }
  parts.push(text.slice(last));
  return (
    <div className="plain-text">
      {parts.map((p, i) =>
        typeof p === 'string' ? (
          <Fragment key={i}>{p}</Fragment>
        ) : (
          <a key={i} href={p.url} target="_blank" rel="noopener noreferrer">
            {p.url}
          </a>
        ),
      )}
    </div>
  );
}
