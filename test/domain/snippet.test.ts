/**
 * Message previews (SPEC sections 3 and 4): the new text of a message on one line, without
 * the quoted reply, at most SNIPPET_LENGTH characters. The full body is kept elsewhere.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SNIPPET_LENGTH, htmlToText, snippetOf } from '../../src/domain/snippet.js';

/** A lone UTF-16 surrogate: half a character. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('snippetOf', () => {
  it('collapses line breaks, tabs and runs of spaces to single spaces', () => {
    expect(snippetOf('Hello   world,\n\n\tsee you\r\n  tomorrow.  ', null)).toBe('Hello world, see you tomorrow.');
  });

  it('leaves out a quoted reply introduced by "On ... wrote:"', () => {
    const text = [
      'Thursday works for me.',
      '',
      'On Mon, 16 Nov 2009 at 10:00, Bob Smith <bob@example.org> wrote:',
      '> Can we meet on Thursday?',
      '> Bob',
      '',
    ].join('\n');
    expect(snippetOf(text, null)).toBe('Thursday works for me.');
  });

  it('leaves out the quoted reply when the "On ... wrote:" line is wrapped, and with CRLF line ends', () => {
    const text = [
      'Sounds good.',
      '',
      'On Mon, Nov 16, 2009 at 10:00 AM, Bob Smith <bob@example.org>',
      'wrote:',
      '> Old text',
      '',
    ].join('\r\n');
    expect(snippetOf(text, null)).toBe('Sounds good.');
  });

  it('leaves out "> " quoted lines without an attribution line', () => {
    expect(snippetOf('New text here.\n\n> quoted line one\n> quoted line two\n', null)).toBe('New text here.');
  });

  it('keeps the whole text of a message that is all quote (a bare forward)', () => {
    const s = snippetOf('> forwarded line one\n> forwarded line two', null);
    expect(s).toContain('forwarded line one');
    expect(s).toContain('forwarded line two');
  });

  it('uses the HTML body without markup when there is no text body', () => {
    expect(snippetOf(null, '<html><body><p>Hello <b>there</b>,</p><p>how are you?</p></body></html>')).toBe('Hello there, how are you?');
    expect(snippetOf('   \n', '<div>From the <i>HTML</i> part</div>')).toBe('From the HTML part');
  });

  it('drops link targets and images from an HTML body', () => {
    const s = snippetOf(null, '<p>Visit <a href="https://tracker.example.com/c?id=1">our site</a> <img src="https://img.example.com/p.png" alt="pixel"></p>');
    expect(s).toBe('Visit our site');
  });

  it('leaves out a blockquoted reply in an HTML body', () => {
    const s = snippetOf(null, '<p>Agreed.</p><blockquote><p>Shall we ship it?</p></blockquote>');
    expect(s).toBe('Agreed.');
  });

  it('prefers the text body over the HTML body', () => {
    expect(snippetOf('plain version', '<p>html version</p>')).toBe('plain version');
  });

  it('is empty for a message without a body', () => {
    expect(snippetOf(null, null)).toBe('');
    expect(snippetOf('', '')).toBe('');
  });

  it('keeps a text of exactly the limit whole', () => {
    const text = 'a'.repeat(SNIPPET_LENGTH);
    expect(snippetOf(text, null)).toBe(text);
  });

  it('cuts a longer text to the limit, ending with an ellipsis', () => {
    const text = 'word '.repeat(100).trim();
    const s = snippetOf(text, null);
    expect(s.length).toBeLessThanOrEqual(SNIPPET_LENGTH);
    expect(s.endsWith('…')).toBe(true);
    expect(text.startsWith(s.slice(0, -1))).toBe(true);
    expect(s.length).toBeGreaterThan(SNIPPET_LENGTH - 10);
    const one = snippetOf('b'.repeat(SNIPPET_LENGTH + 1), null);
    expect(one).toBe(`${'b'.repeat(SNIPPET_LENGTH - 1)}…`);
  });

  it('never cuts an emoji (a surrogate pair) in half', () => {
    for (let pad = SNIPPET_LENGTH - 4; pad <= SNIPPET_LENGTH + 1; pad++) {
      const s = snippetOf(`${'x'.repeat(pad)}😀😀😀 tail`, null);
      expect(s.length).toBeLessThanOrEqual(SNIPPET_LENGTH);
      expect(s).not.toMatch(LONE_SURROGATE);
    }
  });

  it('reads only the head of a very long body, quickly', () => {
    const t = Date.now();
    const s = snippetOf(`${'Start. '}${'> quoted\n'.repeat(200_000)}`, null);
    expect(Date.now() - t).toBeLessThan(5_000);
    expect(s.startsWith('Start.')).toBe(true);
  });
});

describe('htmlToText', () => {
  it('keeps the text and drops tags, link targets and images', () => {
    const text = htmlToText('<p>One <a href="https://example.org/">two</a></p><img src="x.png" alt="three"><p>four &amp; five</p>');
    expect(text).toContain('One two');
    expect(text).toContain('four & five');
    expect(text).not.toContain('example.org');
    expect(text).not.toContain('<');
    expect(text).not.toContain('three');
  });
});

describe('snippet properties', () => {
  const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

  it('property: any body gives one trimmed line of at most the limit, with no half characters', () => {
    const body = fc.oneof(
      fc.string({ maxLength: 1_500, unit: 'binary' }),
      fc.array(fc.constantFrom('word', ' ', '\n', '\t', '> quote', '\r\n', 'On Mon, Bob wrote:', '😀', 'é'), { maxLength: 300 }).map((a) => a.join('')),
    );
    fc.assert(fc.property(fc.option(body), fc.option(body), (text, html) => {
      const s = snippetOf(text, html);
      expect(s.length).toBeLessThanOrEqual(SNIPPET_LENGTH);
      expect(s).toBe(s.trim());
      expect(s).not.toMatch(/[\r\n\t]/);
      expect(s).not.toMatch(/\s\s/);
      expect(s).not.toMatch(LONE_SURROGATE);
    }), { numRuns: 300 });
  });

  it('property: the quoted reply never reaches the preview, which is the new text on one line', () => {
    const word = fc.stringMatching(/^[a-z0-9]{1,12}$/).filter((w) => w !== 'on');
    const line = fc.array(word, { minLength: 1, maxLength: 12 }).map((w) => w.join(' '));
    const newText = fc.array(line, { minLength: 1, maxLength: 8 });
    const quoted = fc.array(fc.string({ maxLength: 60 }).map((s) => s.replace(/[\r\n]/g, ' ')), { minLength: 1, maxLength: 8 });
    const header = fc.constantFrom(
      'On Mon, 16 Nov 2009 at 10:00, Bob <bob@example.org> wrote:',
      'On Tue, Nov 17, 2009 at 9:15 PM, Alice Example <alice@example.com> wrote:',
      null,
    );
    const eol = fc.constantFrom('\n', '\r\n');
    fc.assert(fc.property(newText, header, quoted, eol, (lines, h, q, nl) => {
      const body = [...lines, '', ...(h ? [h] : []), ...q.map((l) => `> QUOTEDMARK ${l}`), ''].join(nl);
      const s = snippetOf(body, null);
      expect(s.length).toBeLessThanOrEqual(SNIPPET_LENGTH);
      expect(s).not.toContain('QUOTEDMARK');
      expect(s).not.toContain('>');
      expect(s).not.toContain('wrote:');
      const visible = oneLine(lines.join(' '));
      if (visible.length <= SNIPPET_LENGTH) {
        expect(s).toBe(visible);
      } else {
        expect(s.endsWith('…')).toBe(true);
        expect(visible.startsWith(s.slice(0, -1))).toBe(true);
      }
    }), { numRuns: 300 });
  });
});
