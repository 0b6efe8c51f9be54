/**
 * Email HTML made safe to show in a sandboxed frame. DOMPurify removes scripts, event
 * handlers, `javascript:` links, frames, objects and forms; on top of that, nothing may
 * make the browser fetch anything until the person asks:
 *
 * - images: `data:` ones are kept, `cid:` ones become the message's inline parts (as
 *   `data:` URLs the caller fetched), remote ones (any other source) are dropped and
 *   counted, unless remote images are shown (then `http(s):` only);
 * - CSS: `<style>` text and `style` attributes lose every `url()`, `image-set()`,
 *   `@import` and the like, so a stylesheet cannot report that the mail was opened or
 *   what is on screen (CSS exfiltration); anything still doubtful is removed whole.
 *
 * The frame's own Content-Security-Policy (see `emailDocument`) enforces the same again.
 */
import DOMPurify from 'dompurify';

export type SanitizeOptions = {
  /** Load `http:`/`https:` images (the person clicked "Show remote images"). */
  readonly showRemote: boolean;
  /** Inline parts by Content-ID (lower-case, without angle brackets): `data:` URLs. */
  readonly inline: ReadonlyMap<string, string>;
};

export type SanitizedEmail = {
  /** The sanitized body, ready for `emailDocument`. */
  readonly html: string;
  /** Remote images found (kept when `showRemote`, dropped otherwise). */
  readonly remoteImages: number;
};

const purify = DOMPurify(window);

/** CSS that makes the browser fetch something, or hides a way to do so (escapes). */
const FETCHING_CSS = /url\s*\(|image-set\s*\(|image\s*\(|cross-fade\s*\(|element\s*\(|\bsrc\s*\(|@import|expression\s*\(|binding|behavior|\\/i;
const CSS_URL = /url\s*\(\s*(?:"[^"]*"|'[^']*'|[^)]*)\s*\)/gi;

/** A stylesheet without what fetches; empty when anything doubtful is left. */
export function cleanStylesheet(css: string): string {
  const cleaned = css
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/@import[^;]*;?/gi, '')
    .replace(CSS_URL, 'none');
  return FETCHING_CSS.test(cleaned) ? '' : cleaned;
}

/** A `style` attribute without the declarations that fetch; empty when nothing is left. */
export function cleanInlineStyle(style: string): string {
  if (style.includes('\\') || style.includes('/*')) return '';
  return style
    .split(';')
    .filter((decl) => decl.trim() !== '' && !FETCHING_CSS.test(decl))
    .join(';');
}

const isHttp = (url: string) => /^https?:\/\//i.test(url);

/**
 * Event-handler attributes (`onerror=`…) renamed before DOMPurify parses the mail:
 * Chromium reports every inline handler it parses under the app's CSP as a console error,
 * even in an inert document. Cosmetic only: DOMPurify drops the renamed attributes (no
 * `data-` attributes are allowed) as it drops any handler this misses.
 */
const renameHandlers = (html: string): string =>
  html.replace(/<[a-z][^>]*>/gi, (tag) => tag.replace(/([\s/"'])on([a-z]+\s*=)/gi, '$1data-x-on$2'));

let options: SanitizeOptions = { showRemote: false, inline: new Map() };
let remoteImages = 0;

purify.addHook('uponSanitizeElement', (node, data) => {
  if (data.tagName === 'style') node.textContent = cleanStylesheet(node.textContent ?? '');
});

purify.addHook('afterSanitizeAttributes', (node) => {
  const style = node.getAttribute('style');
  if (style !== null) {
    const cleaned = cleanInlineStyle(style);
    if (cleaned) node.setAttribute('style', cleaned);
    else node.removeAttribute('style');
  }
  const background = node.getAttribute('background');
  if (background !== null) {
    if (!isHttp(background.trim()) || !options.showRemote) node.removeAttribute('background');
    if (isHttp(background.trim())) remoteImages++;
  }
  if (node.tagName === 'IMG') {
    const src = (node.getAttribute('src') ?? '').trim();
    if (/^cid:/i.test(src)) {
      const part = options.inline.get(src.slice(4).replace(/^<|>$/g, '').toLowerCase());
      if (part) node.setAttribute('src', part);
      else node.removeAttribute('src');
    } else if (!/^data:image\//i.test(src)) {
      if (src) remoteImages++;
      if (!(options.showRemote && isHttp(src))) {
        node.removeAttribute('src');
        node.setAttribute('data-blocked', '');
      }
    }
  }
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

/** Sanitizes one message's HTML (see the module's comment). */
export function sanitizeEmail(html: string, opts: SanitizeOptions): SanitizedEmail {
  options = opts;
  remoteImages = 0;
  const clean = purify.sanitize(renameHandlers(html), {
    USE_PROFILES: { html: true },
    // A mail's <style> usually sits in its <head>; parsed as body content it is kept (cleaned).
    FORCE_BODY: true,
    FORBID_TAGS: ['form', 'input', 'button', 'select', 'textarea', 'option', 'audio', 'video', 'source', 'track', 'picture', 'iframe', 'frame', 'frameset', 'object', 'embed', 'link', 'meta', 'base', 'template', 'dialog', 'portal'],
    FORBID_ATTR: ['srcset', 'ping', 'poster', 'action', 'formaction', 'autofocus', 'usemap', 'lowsrc', 'dynsrc'],
    ALLOW_DATA_ATTR: false,
  });
  return { html: clean, remoteImages };
}

/** The policy of a mail frame: nothing but inline styles and `data:` images, remote images once asked. */
export function emailPolicy(showRemote: boolean): string {
  return `default-src 'none'; style-src 'unsafe-inline'; img-src data:${showRemote ? ' https: http:' : ''}`;
}

/** The look of a mail in its frame. */
const EMAIL_BASE_CSS =
  'body{margin:0;padding:12px 14px;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c1c1e;background:#fff;overflow-wrap:anywhere}' +
  'img{max-width:100%;height:auto}img[data-blocked]{display:inline-block;min-width:24px;min-height:16px;background:#eee;outline:1px dashed #bbb}' +
  'table{max-width:100%}pre{white-space:pre-wrap}blockquote{margin:0 0 0 8px;padding-left:8px;border-left:3px solid #ccc;color:#555}';

/** The `srcdoc` of a mail frame: the sanitized body under the frame's own CSP. */
export function emailDocument(body: string, showRemote: boolean): string {
  const policy = emailPolicy(showRemote).replace(/"/g, '&quot;');
  return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${policy}"><meta name="referrer" content="no-referrer"><style>${EMAIL_BASE_CSS}</style></head><body>${body}</body></html>`;
}
