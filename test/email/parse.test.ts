/**
 * Parsing raw RFC 5322 / MIME messages (SPEC section 4: "MIME in full: multipart,
 * attachments, encoded-word headers, non-UTF-8 charsets"). Expectations come from the
 * RFCs (5322, 2045-2047, 2231, 4155) and the character set tables, not from the parser.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_FALLBACK_TEXT, parseEmail, parseHeadersOnly, stripMboxFromLine, type ParsedEmail } from '../../src/email/parse.js';
import { rawEmail } from '../helpers.js';

const crlf = (...lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');
/** A header block (CRLF) followed by raw body bytes. */
const withBody = (headers: string[], body: Buffer | number[]) =>
  Buffer.concat([crlf(...headers, '', ''), Buffer.isBuffer(body) ? body : Buffer.from(body)]);

/** Checks the documented shape of a ParsedEmail; returns it for further checks. */
function expectShape(p: ParsedEmail): ParsedEmail {
  const id = (v: unknown) => {
    expect(typeof v).toBe('string');
    expect(v).not.toBe('');
    expect(v as string).not.toMatch(/[<>]/);
  };
  const addr = (a: unknown) => {
    const e = a as { address: unknown; name: unknown };
    expect(typeof e.address).toBe('string');
    expect(e.address).not.toBe('');
    expect(e.address).toBe((e.address as string).toLowerCase());
    expect(e.name === null || typeof e.name === 'string').toBe(true);
  };
  if (p.messageId !== null) id(p.messageId);
  expect(Array.isArray(p.inReplyTo)).toBe(true);
  p.inReplyTo.forEach(id);
  expect(Array.isArray(p.references)).toBe(true);
  p.references.forEach(id);
  expect(p.subject === null || typeof p.subject === 'string').toBe(true);
  if (p.from !== null) addr(p.from);
  for (const list of [p.to, p.cc, p.replyTo]) {
    expect(Array.isArray(list)).toBe(true);
    list.forEach(addr);
  }
  if (p.date !== null) expect(new Date(p.date).toISOString()).toBe(p.date);
  expect(p.text === null || typeof p.text === 'string').toBe(true);
  expect(p.html === null || typeof p.html === 'string').toBe(true);
  expect(Array.isArray(p.attachments)).toBe(true);
  for (const a of p.attachments) {
    expect(Buffer.isBuffer(a.content)).toBe(true);
    expect(typeof a.contentType).toBe('string');
    expect(a.contentType).not.toBe('');
    expect(a.filename === null || typeof a.filename === 'string').toBe(true);
  }
  expect(Array.isArray(p.problems)).toBe(true);
  p.problems.forEach((x) => expect(typeof x).toBe('string'));
  return p;
}

describe('headers', () => {
  it('reads the threading headers without angle brackets', async () => {
    const p = await parseEmail(crlf(
      'From: Bob <bob@example.org>',
      'To: agent@example.com',
      'Subject: Re: Plans',
      'Message-ID: <reply.1@example.org>',
      'In-Reply-To: <root@example.com>',
      'References: <root@example.com>',
      '\t<second@example.org>',
      '',
      'body',
    ));
    expect(p.messageId).toBe('reply.1@example.org');
    expect(p.inReplyTo).toEqual(['root@example.com']);
    expect(p.references).toEqual(['root@example.com', 'second@example.org']);
    expect(p.subject).toBe('Re: Plans');
    expect(p.problems).toEqual([]);
  });

  it('reads addresses lower-cased, with display names, and flattens groups (RFC 5322 section 3.4)', async () => {
    const p = await parseEmail(crlf(
      'From: "Smith, Bob" <Bob.Smith@Example.ORG>',
      'To: Team: Alice <ALICE@example.com>, carol@example.com;, dave@example.net',
      'Cc: Erin <erin@example.org>',
      'Reply-To: replies@example.org',
      '',
      'x',
    ));
    expect(p.from).toEqual({ address: 'bob.smith@example.org', name: 'Smith, Bob' });
    expect(p.to.map((a) => a.address)).toEqual(['alice@example.com', 'carol@example.com', 'dave@example.net']);
    expect(p.to[0]!.name).toBe('Alice');
    expect(p.cc).toEqual([{ address: 'erin@example.org', name: 'Erin' }]);
    expect(p.replyTo).toEqual([{ address: 'replies@example.org', name: null }]);
  });

  it('reads the Date header as RFC 3339 in UTC', async () => {
    const p = await parseEmail(rawEmail({ from: 'a@example.org', to: 'b@example.org', date: 'Mon, 16 Nov 2009 10:00:00 +0100' }));
    expect(p.date).toBe('2009-11-16T09:00:00.000Z');
  });

  it('names an unreadable Date header as a problem and keeps the rest', async () => {
    const p = await parseEmail(rawEmail({ from: 'a@example.org', to: 'b@example.org', date: 'sometime last week', body: 'still here' }));
    expect(p.date).toBeNull();
    expect(p.problems.some((x) => x.includes('Date'))).toBe(true);
    expect(p.text).toContain('still here');
  });

  it('decodes RFC 2047 encoded words in the subject and the From name', async () => {
    const p = await parseEmail(crlf(
      'From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>',
      'To: =?UTF-8?B?SsO8cmdlbg==?= <juergen@example.de>',
      'Subject: =?ISO-8859-1?Q?Andr=E9?= says hi',
      '',
      'x',
    ));
    expect(p.subject).toBe('André says hi');
    expect(p.from).toEqual({ address: 'andre@example.org', name: 'André' });
    expect(p.to[0]).toEqual({ address: 'juergen@example.de', name: 'Jürgen' });
  });

  it('decodes B and Q encoded words, underscores as spaces, and joins adjacent words (RFC 2047 sections 4.2 and 6.2)', async () => {
    const p = await parseEmail(crlf(
      'From: a@example.org',
      // "élève " in UTF-8 base64, then "café crème" in ISO-8859-1 Q; the space between the words is dropped.
      'Subject: =?UTF-8?B?w6lsw6h2ZSA=?= =?ISO-8859-1?Q?caf=E9_cr=E8me?=',
      '',
      'x',
    ));
    expect(p.subject).toBe('élève café crème');
  });

  it('decodes windows-1252 and KOI8-R encoded words', async () => {
    const p = await parseEmail(crlf(
      'From: =?KOI8-R?B?' + Buffer.from([0xe9, 0xd7, 0xc1, 0xce]).toString('base64') + '?= <ivan@example.ru>',
      'Subject: =?windows-1252?Q?=93Quoted=94_=96_=80100?=',
      '',
      'x',
    ));
    // KOI8-R: 0xE9 И, 0xD7 в, 0xC1 а, 0xCE н. windows-1252: 0x93 “, 0x94 ”, 0x96 –, 0x80 €.
    expect(p.from?.name).toBe('Иван');
    expect(p.subject).toBe('“Quoted” – €100');
  });

  it('returns nulls and empty lists for a message without headers', async () => {
    const p = expectShape(await parseEmail(crlf('', 'Only a body, no header fields at all.', '')));
    expect(p.messageId).toBeNull();
    expect(p.subject).toBeNull();
    expect(p.from).toBeNull();
    expect(p.to).toEqual([]);
    expect(p.date).toBeNull();
    expect(p.inReplyTo).toEqual([]);
    expect(p.references).toEqual([]);
    expect(p.text).toContain('Only a body, no header fields at all.');
  });
});

describe('bodies', () => {
  it('reads both parts of multipart/alternative (RFC 2046 section 5.1.4)', async () => {
    const p = await parseEmail(crlf(
      'From: a@example.org',
      'Subject: alt',
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="=_alt_42"',
      '',
      'This is the preamble, to be ignored.',
      '--=_alt_42',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Plain version.',
      '--=_alt_42',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>HTML <b>version</b>.</p>',
      '--=_alt_42--',
      'Epilogue, also ignored.',
      '',
    ));
    expect(p.text?.trim()).toBe('Plain version.');
    expect(p.html).toContain('<p>HTML <b>version</b>.</p>');
    expect(p.text).not.toContain('preamble');
    expect(p.attachments).toEqual([]);
    expect(p.problems).toEqual([]);
  });

  it('decodes quoted-printable and base64 transfer encodings (RFC 2045 section 6)', async () => {
    const qp = await parseEmail(crlf(
      'From: a@example.org',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Caf=C3=A9 au lait, a soft=',
      'break.',
      '',
    ));
    expect(qp.text?.trim()).toBe('Café au lait, a softbreak.');
    const b64 = await parseEmail(crlf(
      'From: a@example.org',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('Grüße aus Köln').toString('base64'),
      '',
    ));
    expect(b64.text?.trim()).toBe('Grüße aus Köln');
  });

  it('decodes an ISO-8859-1 body', async () => {
    // "café" and "naïve" in ISO-8859-1: é 0xE9, ï 0xEF.
    const body = [...Buffer.from('caf'), 0xe9, 0x20, ...Buffer.from('na'), 0xef, ...Buffer.from('ve'), 0x0d, 0x0a];
    const p = await parseEmail(withBody(['From: a@example.org', 'Content-Type: text/plain; charset=iso-8859-1'], body));
    expect(p.text?.trim()).toBe('café naïve');
  });

  it('decodes a windows-1252 body, including the 0x80-0x9F range that differs from ISO-8859-1', async () => {
    // 0x80 €, 0x93 “, 0x94 ”, 0x96 –, 0x85 …, 0x99 ™, 0x8A Š, 0x9F Ÿ.
    const body = [0x80, 0x35, 0x20, 0x93, ...Buffer.from('ok'), 0x94, 0x20, 0x96, 0x20, 0x85, 0x99, 0x8a, 0x9f];
    const p = await parseEmail(withBody(['From: a@example.org', 'Content-Type: text/plain; charset=windows-1252'], body));
    expect(p.text?.trim()).toBe('€5 “ok” – …™ŠŸ');
  });

  it('decodes a quoted-printable windows-1252 HTML part', async () => {
    const p = await parseEmail(crlf(
      'From: a@example.org',
      'Content-Type: text/html; charset="Windows-1252"',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      '<p>It=92s =80 20</p>',
      '',
    ));
    expect(p.html).toContain('<p>It’s € 20</p>');
  });

  it('decodes a KOI8-R body', async () => {
    // KOI8-R: П 0xF0, р 0xD2, и 0xC9, в 0xD7, е 0xC5, т 0xD4; м 0xCD, и 0xC9, р 0xD2.
    const body = [0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x2c, 0x20, 0xcd, 0xc9, 0xd2, 0x21];
    const p = await parseEmail(withBody(['From: a@example.org', 'Content-Type: text/plain; charset=koi8-r'], body));
    expect(p.text?.trim()).toBe('Привет, мир!');
  });

  it('keeps UTF-8 text that happens to hold characters of the windows-1252 range as they are', async () => {
    const p = await parseEmail(withBody(['From: a@example.org', 'Content-Type: text/plain; charset=utf-8'], Buffer.from('€ “ok” – Ÿ')));
    expect(p.text?.trim()).toBe('€ “ok” – Ÿ');
  });
});

describe('automatic messages and HTML-only mail', () => {
  it('marks auto-replies and delivery reports automatic (RFC 3834), and a person\'s mail not', async () => {
    const auto = async (header: string) => (await parseEmail(crlf('From: a@x.test', header, '', 'Away.'))).autoSubmitted;
    expect(await auto('Auto-Submitted: auto-replied')).toBe(true);
    expect(await auto('Auto-Submitted: auto-generated')).toBe(true);
    expect(await auto('X-Autoreply: yes')).toBe(true);
    expect(await auto('Precedence: auto_reply')).toBe(true);
    expect(await auto('Content-Type: multipart/report; report-type=delivery-status; boundary="b"')).toBe(true);
    expect(await auto('Auto-Submitted: no')).toBe(false);
    expect(await auto('Precedence: bulk')).toBe(false);
    expect(await auto('Subject: Out of office?')).toBe(false);
  });

  it('gives HTML-only mail a text rendering, so `text` is never empty when there is a body', async () => {
    const p = await parseEmail(crlf('From: a@x.test', 'Content-Type: text/html; charset=utf-8', '', '<p>Your <b>order</b> shipped.</p><p>Track it <a href="https://t.test/1">here</a>.</p>'));
    expect(p.html).toContain('<b>order</b>');
    expect(p.text).toMatch(/Your order shipped\./);
    expect(p.text).not.toMatch(/<[a-z]/);
  });
});

describe('attachments', () => {
  const pdf = Buffer.from('%PDF-1.4\n% fake but binary: \u0000\u00ff\n', 'latin1');
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0xff, 0x00]);

  it('keeps every attachment with its filename, content type, bytes and size', async () => {
    const p = await parseEmail(crlf(
      'From: a@example.org',
      'Subject: files',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="mix"',
      '',
      '--mix',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'See the attached files.',
      '--mix',
      'Content-Type: application/pdf; name="report.pdf"',
      'Content-Disposition: attachment; filename="report.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      pdf.toString('base64'),
      '--mix',
      'Content-Type: image/png',
      'Content-Disposition: inline; filename="logo.png"',
      'Content-ID: <logo@example.org>',
      'Content-Transfer-Encoding: base64',
      '',
      png.toString('base64'),
      '--mix--',
      '',
    ));
    expect(p.text?.trim()).toBe('See the attached files.');
    expect(p.attachments).toHaveLength(2);
    const [a, b] = p.attachments;
    expect(a).toMatchObject({ filename: 'report.pdf', contentType: 'application/pdf', disposition: 'attachment', contentId: null });
    expect(a!.content.equals(pdf)).toBe(true);
    expect(a!.content.length).toBe(pdf.length);
    expect(b).toMatchObject({ filename: 'logo.png', contentType: 'image/png', disposition: 'inline', contentId: 'logo@example.org' });
    expect(b!.content.equals(png)).toBe(true);
  });

  it('decodes an RFC 2231 encoded filename', async () => {
    const p = await parseEmail(crlf(
      'From: a@example.org',
      'Content-Type: multipart/mixed; boundary=b1',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'cv attached',
      '--b1',
      'Content-Type: application/pdf',
      "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
      'Content-Transfer-Encoding: base64',
      '',
      pdf.toString('base64'),
      '--b1--',
      '',
    ));
    expect(p.attachments.map((x) => x.filename)).toEqual(['résumé.pdf']);
  });

  it('keeps an attachment of a nested multipart (mixed > alternative + file)', async () => {
    const p = await parseEmail(crlf(
      'From: a@example.org',
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      '--outer',
      'Content-Type: multipart/alternative; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/plain',
      '',
      'nested plain',
      '--inner',
      'Content-Type: text/html',
      '',
      '<p>nested html</p>',
      '--inner--',
      '--outer',
      'Content-Type: text/csv; name=data.csv',
      'Content-Disposition: attachment; filename=data.csv',
      '',
      'a,b',
      '1,2',
      '--outer--',
      '',
    ));
    expect(p.text?.trim()).toBe('nested plain');
    expect(p.html).toContain('nested html');
    expect(p.attachments).toHaveLength(1);
    expect(p.attachments[0]).toMatchObject({ filename: 'data.csv', contentType: 'text/csv' });
    expect(p.attachments[0]!.content.toString('utf8')).toContain('a,b');
  });
});

describe('mbox From line (RFC 4155)', () => {
  const message = rawEmail({ from: 'Bob <bob@example.org>', to: 'agent@example.com', subject: 'From mbox', messageId: 'mbox.1@example.org', body: 'mbox body' });

  it('strips the separator line so the headers are read', async () => {
    for (const sep of ['From bob@example.org Mon Nov 16 10:00:00 2009\n', 'From MAILER-DAEMON Fri Jul  8 12:08:34 2011\r\n']) {
      const p = await parseEmail(Buffer.concat([Buffer.from(sep), message]));
      expect(p.subject).toBe('From mbox');
      expect(p.from).toEqual({ address: 'bob@example.org', name: 'Bob' });
      expect(p.messageId).toBe('mbox.1@example.org');
      expect(p.text?.trim()).toBe('mbox body');
    }
  });

  it('stripMboxFromLine removes only a leading "From " line', () => {
    expect(stripMboxFromLine(Buffer.from('From x@y Mon Nov 16 10:00:00 2009\nFrom: x@y\n\nb')).toString()).toBe('From: x@y\n\nb');
    const header = Buffer.from('From: x@y\nSubject: s\n\nFrom the body');
    expect(stripMboxFromLine(header).equals(header)).toBe(true);
    const later = Buffer.from('Subject: s\nFrom x@y Mon\n\nb');
    expect(stripMboxFromLine(later).equals(later)).toBe(true);
    expect(stripMboxFromLine(Buffer.from('From nobody-without-newline')).length).toBe(0);
  });
});

describe('malformed MIME: never throws, keeps what can be read', () => {
  it('keeps the body of a multipart whose boundary never occurs, and names the problem', async () => {
    const p = expectShape(await parseEmail(crlf(
      'From: a@example.org',
      'Subject: wrong boundary',
      'Content-Type: multipart/mixed; boundary="declared"',
      '',
      '--actually-used',
      'Content-Type: text/plain',
      '',
      'the words that matter',
      '--actually-used--',
      '',
    )));
    expect(p.subject).toBe('wrong boundary');
    expect(p.from?.address).toBe('a@example.org');
    expect(p.text).toContain('the words that matter');
    expect(p.problems.length).toBeGreaterThan(0);
  });

  it('keeps the body of a multipart without a boundary parameter', async () => {
    const p = expectShape(await parseEmail(crlf(
      'From: a@example.org',
      'Subject: no boundary',
      'Content-Type: multipart/mixed',
      '',
      'loose text in a multipart',
      '',
    )));
    expect(p.subject).toBe('no boundary');
    expect(p.text).toContain('loose text in a multipart');
    expect(p.problems.length).toBeGreaterThan(0);
  });

  it('keeps the parts of a multipart cut off before its closing boundary', async () => {
    const p = expectShape(await parseEmail(crlf(
      'From: a@example.org',
      'Subject: truncated',
      'Content-Type: multipart/mixed; boundary=cut',
      '',
      '--cut',
      'Content-Type: text/plain',
      '',
      'first part survives',
      '--cut',
      'Content-Type: text/plain',
      '',
      'second part, cut mid-sen',
    )));
    expect(p.text).toContain('first part survives');
    expect(p.text).toContain('second part, cut mid-sen');
  });

  it('keeps an attachment whose base64 is truncated, with the bytes that could be decoded', async () => {
    const full = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff));
    const b64 = full.toString('base64');
    const truncated = b64.slice(0, 201); // 50 whole quads and one stray character
    const p = expectShape(await parseEmail(crlf(
      'From: a@example.org',
      'Subject: cut attachment',
      'Content-Type: multipart/mixed; boundary=t',
      '',
      '--t',
      'Content-Type: text/plain',
      '',
      'see attachment',
      '--t',
      'Content-Type: application/octet-stream',
      'Content-Disposition: attachment; filename="blob.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      truncated,
    )));
    expect(p.text).toContain('see attachment');
    expect(p.attachments).toHaveLength(1);
    const got = p.attachments[0]!.content;
    expect(p.attachments[0]!.filename).toBe('blob.bin');
    expect(got.length).toBeGreaterThanOrEqual(150); // 50 quads = 150 bytes
    expect(got.length).toBeLessThan(full.length);
    expect(full.subarray(0, got.length).equals(got)).toBe(true);
  });

  it('skips invalid base64 characters in a text part (RFC 2045 section 6.8)', async () => {
    const p = await parseEmail(crlf(
      'From: a@example.org',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      'SGVsbG8g!!d29y**bGQ=',
      '',
    ));
    expect(p.text?.trim()).toBe('Hello world');
  });

  it('keeps headers and text around binary junk', async () => {
    const junk = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x81, 0x00, 0x1b, 0x5b, 0x32, 0x4a, 0xc3, 0x28]);
    const raw = Buffer.concat([crlf('From: a@example.org', 'Subject: junk ahead', '', 'readable start '), junk, Buffer.from(' readable end\r\n')]);
    const p = expectShape(await parseEmail(raw));
    expect(p.subject).toBe('junk ahead');
    expect(p.text).toContain('readable start');
    expect(p.text).toContain('readable end');
  });

  it('falls back to the header block and raw text when the MIME tree is too deep to parse', async () => {
    const raw = Buffer.concat([
      crlf('From: Deep <deep@example.org>', 'Subject: too deep', 'Message-ID: <deep@example.org>', 'Content-Type: multipart/mixed; boundary=a', '', ''),
      Buffer.from('--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n'.repeat(200)),
    ]);
    const p = expectShape(await parseEmail(raw));
    expect(p.subject).toBe('too deep');
    expect(p.from?.address).toBe('deep@example.org');
    expect(p.messageId).toBe('deep@example.org');
    expect(p.problems.length).toBeGreaterThan(0);
    expect(p.text).toContain('--a');
  });

  it('keeps at most MAX_FALLBACK_TEXT characters of an unparsed body as text, never half a surrogate pair, and names the cut', () => {
    const head = crlf('From: big@example.org', 'Subject: big', '', '');
    // A four-byte character (two UTF-16 units) straddling the limit.
    const body = Buffer.from('a'.repeat(MAX_FALLBACK_TEXT - 1) + '\u{1F600}' + 'b'.repeat(1000));
    const p = parseHeadersOnly(Buffer.concat([head, body]), 'the parse ran out of time');
    expect(p.subject).toBe('big');
    expect(p.text).toBe('a'.repeat(MAX_FALLBACK_TEXT - 1));
    expect(p.problems).toEqual(['the parse ran out of time', expect.stringMatching(/first 524288 are kept.*raw message/)]);
    const small = parseHeadersOnly(Buffer.concat([head, Buffer.from('short body')]), 'x');
    expect(small.text).toBe('short body');
    expect(small.problems).toEqual(['x']);
  });

  it('reads a half-bracketed Message-ID without the stray bracket', async () => {
    const p = await parseEmail(crlf('From: a@example.org', 'Message-ID: <no-closing@example.org', 'References: <r1@example.org', '', 'x'));
    expect(p.messageId).toBe('no-closing@example.org');
    expect(p.references).toEqual(['r1@example.org']);
  });

  it('parses empty input and input of only a line break', async () => {
    for (const raw of [Buffer.alloc(0), Buffer.from('\r\n'), Buffer.from('\n\n\n')]) {
      const p = expectShape(await parseEmail(raw));
      expect(p.from).toBeNull();
      expect(p.attachments).toEqual([]);
    }
  });
});

describe('parse properties', () => {
  const headerLine = fc.oneof(
    fc.constantFrom(
      'From: a@example.org', 'From: =?ISO-8859-1?Q?Andr=E9?= <A@X.ORG>', 'To: undisclosed-recipients:;', 'Subject: =?UTF-8?B?broken',
      'Content-Type: multipart/mixed; boundary=b', 'Content-Type: multipart/alternative', 'Content-Type: text/plain; charset=koi8-r',
      'Content-Transfer-Encoding: base64', 'Content-Transfer-Encoding: quoted-printable', 'Message-ID: <x@y', 'References: <a@b> <<c@d>> e@f',
      'Date: not a date', 'Date: Mon, 16 Nov 2009 10:00:00 +0000', 'Content-Disposition: attachment; filename*=bogus', '\tfolded continuation',
    ),
    fc.string({ maxLength: 60 }).map((s) => s.replace(/[\r\n]/g, '')),
  );
  const bodyLine = fc.oneof(
    fc.constantFrom('--b', '--b--', 'Content-Type: text/html', '', '=E9=', 'SGVsbG8', '> quoted', 'From x'),
    fc.string({ maxLength: 80 }),
  );
  const mimeish = fc.tuple(fc.array(headerLine, { maxLength: 8 }), fc.array(bodyLine, { maxLength: 12 }), fc.constantFrom('\r\n', '\n'))
    .map(([h, b, nl]) => Buffer.from([...h, '', ...b].join(nl)));

  it('property: parse never throws on random bytes, strings or MIME-like input, and returns the documented shape', async () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 2_000 }).map((u) => Buffer.from(u)),
      fc.string({ maxLength: 2_000, unit: 'binary' }).map((s) => Buffer.from(s)),
      mimeish,
    );
    await fc.assert(fc.asyncProperty(input, async (raw) => {
      expectShape(await parseEmail(raw));
    }), { numRuns: 400 });
  });
});

describe('NUL characters', () => {
  it('are removed from decoded strings (the raw bytes keep them) and named as a problem', async () => {
    const p = await parseEmail(Buffer.from('From: Ann\u0000 <a@example.org>\r\nSubject: a\u0000b\r\n\r\nbo\u0000dy\r\n', 'latin1'));
    expect(p.subject).toBe('ab');
    expect(p.text?.trim()).toBe('body');
    expect(JSON.stringify(p)).not.toContain('\\u0000');
    expect(p.problems.some((x) => /NUL/.test(x))).toBe(true);
    const clean = await parseEmail(Buffer.from('From: a@example.org\r\nSubject: ok\r\n\r\nbody\r\n'));
    expect(clean.problems.some((x) => /NUL/.test(x))).toBe(false);
  });
});
