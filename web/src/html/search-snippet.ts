/**
 * The search snippet of a conversation (`search.snippet`): escaped text with the matched
 * words in `<mark>`. Only `<mark>` survives, whatever the server sends.
 */
import DOMPurify from 'dompurify';

const purify = DOMPurify(window);

export function sanitizeSnippet(html: string): string {
  return purify.sanitize(html, { ALLOWED_TAGS: ['mark'], ALLOWED_ATTR: [] });
}
