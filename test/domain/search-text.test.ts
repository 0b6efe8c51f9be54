/**
 * Full-text search without a store: what a word is, how a query becomes terms, and the
 * highlighted snippet of a match.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_TOKEN_LENGTH, SEARCH_SNIPPET_LENGTH, messageTokens, parseSearchQuery, searchSnippet, searchTokens, termMatches, tokenSpans,
  type SearchableMessage,
} from '../../src/domain/search-text.js';

const message = (m: Partial<SearchableMessage>): SearchableMessage => ({ subject: null, text: null, html: null, from: null, to: [], cc: [], ...m });
/** The words of a snippet between <mark> and </mark>. */
const marked = (snippet: string) => [...snippet.matchAll(/<mark>(.*?)<\/mark>/g)].map((m) => m[1]);

describe('words', () => {
  it('folds case, accents and compatibility forms, and splits at everything but letters and digits', () => {
    expect(searchTokens('Résumé ÉCOLE straße ﬁle ½ x²')).toEqual(['resume', 'ecole', 'straße', 'file', '1', '2', 'x2']);
    expect(searchTokens('ann.lee+shop@Buyer-Mail.test')).toEqual(['ann', 'lee', 'shop', 'buyer', 'mail', 'test']);
    expect(searchTokens('日本語のメール 123-456')).toEqual(['日本語のメール', '123', '456']);
  });

  it('keeps where each word stands in the original text', () => {
    expect(tokenSpans('Hi, Zoë!')).toEqual([{ token: 'hi', start: 0, end: 2 }, { token: 'zoe', start: 4, end: 7 }]);
  });

  it('cuts a word to the longest kept length, in the text and in a query alike', () => {
    const long = 'a'.repeat(MAX_TOKEN_LENGTH + 10);
    expect(searchTokens(long)).toEqual(['a'.repeat(MAX_TOKEN_LENGTH)]);
    expect(parseSearchQuery(long)).toEqual([{ token: 'a'.repeat(MAX_TOKEN_LENGTH), prefix: false }]);
  });

  it('makes the same tokens for a word of ASCII letters as for any other word: folded, split and cut alike', () => {
    // The tokenizer's definition, spelled out without its shortcuts.
    const reference = (text: string) => new Set([...text.matchAll(/[\p{L}\p{N}][\p{L}\p{N}\p{M}]*/gu)].flatMap((m) =>
      m[0].normalize('NFKD').toLowerCase().replace(/\p{M}+/gu, '').split(/[^\p{L}\p{N}]+/u).filter(Boolean)
        .map((t) => Array.from(t).slice(0, MAX_TOKEN_LENGTH).join(''))));
    const piece = fc.oneof(
      fc.string({ maxLength: 80, unit: 'grapheme' }),
      fc.string({ maxLength: 90, unit: fc.constantFrom('a', 'Z', '7', 'é', 'E\u0301', 'İ', 'K', 'ß', 'ﬁ', '½', '日', '😀', ' ', '-', '@') }),
      fc.nat({ max: 2 * MAX_TOKEN_LENGTH }).map((n) => 'Ab'.repeat(n)),
    );
    fc.assert(fc.property(fc.array(piece, { maxLength: 6 }), (pieces) => {
      const text = pieces.join(' ');
      expect(new Set(searchTokens(text))).toEqual(reference(text));
      expect(searchTokens(text)).toEqual([...new Set(tokenSpans(text).map((s) => s.token))]);
    }));
  });

  it('indexes a message by subject, body, addresses and display names, reading the HTML part only when there is no text', () => {
    const tokens = messageTokens(message({
      subject: 'Invoice 17', text: 'Please pay.', html: '<p>hidden words</p>',
      from: { address: 'ann@buyer.test', name: 'Ann Lee' }, to: [{ address: 'help@shop.test', name: null }], cc: [{ address: 'cc@x.test', name: 'Carl' }],
    }));
    expect(tokens.sort()).toEqual(['17', 'ann', 'buyer', 'carl', 'cc', 'help', 'invoice', 'lee', 'pay', 'please', 'shop', 'test', 'x'].sort());
    expect(messageTokens(message({ html: '<p>Only <b>markup</b> here</p>' }))).toEqual(['only', 'markup', 'here']);
  });
});

describe('parseSearchQuery', () => {
  it('makes every word a required term and treats query syntax of other engines as words or separators', () => {
    expect(parseSearchQuery('"Order 17" OR -refund (NEAR) AND*')).toEqual([
      { token: 'order', prefix: false }, { token: '17', prefix: false }, { token: 'or', prefix: false },
      { token: 'refund', prefix: false }, { token: 'near', prefix: false }, { token: 'and', prefix: true },
    ]);
  });

  it('makes a word followed by * a prefix, when it has at least two characters', () => {
    expect(parseSearchQuery('invoi* a* ann@buy*')).toEqual([
      { token: 'invoi', prefix: true }, { token: 'a', prefix: false }, { token: 'ann', prefix: false }, { token: 'buy', prefix: true },
    ]);
  });

  it('returns no terms for a query without letters or digits, and drops repeated terms', () => {
    expect(parseSearchQuery('*** "" -- ()')).toEqual([]);
    expect(parseSearchQuery('Ann ann ANN')).toEqual([{ token: 'ann', prefix: false }]);
  });

  it('makes only terms of letters and digits, whatever the input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200, unit: 'grapheme' }), (q) => {
      for (const t of parseSearchQuery(q)) expect(t.token).toMatch(/^[\p{L}\p{N}]+$/u);
    }));
  });
});

describe('searchSnippet', () => {
  const terms = parseSearchQuery('refund');

  it('marks the matched words of the body and escapes the rest', () => {
    const snippet = searchSnippet(message({ text: 'About <the> REFUND & the refunds: "refund" it.' }), terms);
    expect(snippet).toBe('About &lt;the&gt; <mark>REFUND</mark> &amp; the refunds: &quot;<mark>refund</mark>&quot; it.');
  });

  it('marks words that start with a prefix term', () => {
    expect(searchSnippet(message({ text: 'Two refunds pending' }), parseSearchQuery('refu*'))).toBe('Two <mark>refunds</mark> pending');
  });

  it('cuts a long body around the first match, with ellipses, never inside a word', () => {
    const text = `${'lorem ipsum '.repeat(40)}the refund is here ${'dolor sit '.repeat(40)}`;
    const snippet = searchSnippet(message({ text }), terms)!;
    expect(snippet.startsWith('…')).toBe(true);
    expect(snippet.endsWith('…')).toBe(true);
    expect(snippet).toContain('<mark>refund</mark>');
    expect(snippet.replace(/<\/?mark>/g, '').length).toBeLessThanOrEqual(SEARCH_SNIPPET_LENGTH + 2);
    expect(snippet).toMatch(/^…(lorem|ipsum) /);
    expect(snippet).toMatch(/ (dolor|sit)…$/);
  });

  it('shows the subject, or the addresses, when the body does not hold the words', () => {
    expect(searchSnippet(message({ subject: 'Refund for order 17', text: 'Hello' }), terms)).toBe('<mark>Refund</mark> for order 17');
    expect(searchSnippet(message({ text: 'Hello', from: { address: 'ann@buyer.test', name: 'Ann <Lee>' } }), parseSearchQuery('buyer')))
      .toBe('Ann &lt;Lee&gt; &lt;ann@<mark>buyer</mark>.test&gt;');
  });

  it('prefers the part holding more of the words', () => {
    const snippet = searchSnippet(message({ subject: 'Refund for Ann', text: 'a refund' }), parseSearchQuery('refund ann'));
    expect(snippet).toBe('<mark>Refund</mark> for <mark>Ann</mark>');
  });

  it('returns null when no part holds a term', () => {
    expect(searchSnippet(message({ text: 'nothing here' }), terms)).toBeNull();
  });

  it('is escaped HTML whose marks hold only matching words, for any text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 600, unit: 'grapheme' }), fc.string({ minLength: 1, maxLength: 20 }), (text, q) => {
      const queryTerms = parseSearchQuery(q);
      const snippet = searchSnippet(message({ text }), queryTerms);
      if (snippet === null) return;
      expect(snippet.replace(/<\/?mark>/g, '')).not.toMatch(/[<>"']/);
      for (const word of marked(snippet)) {
        const plain = word!.replace(/&(amp|lt|gt|quot|#39);/g, ' ');
        expect(searchTokens(plain).some((tok) => queryTerms.some((t) => termMatches(t, tok)))).toBe(true);
      }
      expect(snippet).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    }));
  });
});
