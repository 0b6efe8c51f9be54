/**
 * How the MCP tools show message bodies (mcp/present.ts): the new text, the quoted
 * history and signature left out, long bodies cut.
 */
import { describe, expect, it } from 'vitest';
import { bodyText, MAX_BODY_CHARS } from '../../src/mcp/present.js';

describe('bodyText', () => {
  it('keeps the new text and leaves out the quoted reply', () => {
    const body = 'Yes, Tuesday works.\r\n\r\nOn Mon, 1 Jan 2024 at 10:00, Bob <bob@example.com> wrote:\r\n> Does Tuesday work?\r\n> Bob\r\n';
    expect(bodyText(body)).toEqual({ text: 'Yes, Tuesday works.', quoted_trimmed: true });
  });

  it('keeps a body without a quote as it is', () => {
    expect(bodyText('Hello,\n\nwhere is my order?\n')).toEqual({ text: 'Hello,\n\nwhere is my order?' });
  });

  it('keeps everything when all of it is quoted (a bare forward)', () => {
    expect(bodyText('> forwarded line one\n> forwarded line two').text).toContain('forwarded line two');
  });

  it('cuts a long body and says so', () => {
    const out = bodyText('word '.repeat(5_000));
    expect(out.truncated).toBe(true);
    expect(out.text.length).toBe(MAX_BODY_CHARS + 1);
    expect(out.text.endsWith('…')).toBe(true);
  });

  it('gives an empty text for a message without one', () => {
    expect(bodyText(null)).toEqual({ text: '' });
  });
});
