/**
 * The parse workers' Blob stand-in must not change what postal-mime reads: the same
 * messages parse to the same result with Node's Blob and with ConcatBlob.
 */
import fc from 'fast-check';
import PostalMime from 'postal-mime';
import { afterEach, describe, expect, it } from 'vitest';
import { ConcatBlob, installConcatBlob } from '../../src/email/concat-blob.js';

const NativeBlob = globalThis.Blob;
afterEach(() => { globalThis.Blob = NativeBlob; });

async function parseBoth(raw: Buffer) {
  globalThis.Blob = NativeBlob;
  const native = await PostalMime.parse(raw);
  installConcatBlob();
  const ours = await PostalMime.parse(raw);
  globalThis.Blob = NativeBlob;
  return { native, ours };
}

const part = (headers: string[], body: string) => [...headers, '', body].join('\r\n');

describe('ConcatBlob', () => {
  it('joins strings, bytes, views and other blobs like Blob does', async () => {
    const parts = ['héllo ', new Uint8Array([0xe2, 0x82, 0xac]), new Uint8Array([0, 0x41, 0x42, 0]).subarray(1, 3).buffer.slice(1, 3), new DataView(new Uint8Array([0x43]).buffer)];
    const ours = new ConcatBlob([...parts, new ConcatBlob(['!'])]);
    const native = new NativeBlob([...parts, new NativeBlob(['!'])]);
    expect(ours.size).toBe(native.size);
    expect(Buffer.from(await ours.arrayBuffer())).toEqual(Buffer.from(await native.arrayBuffer()));
    expect(await ours.text()).toBe(await native.text());
  });

  it('gives postal-mime the same result as Node\'s Blob on base64, quoted-printable and 8bit parts', async () => {
    const body = fc.string({ unit: 'grapheme', maxLength: 300 });
    await fc.assert(fc.asyncProperty(body, body, fc.uint8Array({ maxLength: 400 }), async (a, b, bytes) => {
      const raw = Buffer.from([
        'From: a@x.test', 'To: b@y.test', 'Subject: t', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="zz"', '',
        '--zz', part(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable'], a.replace(/=/g, '=3D')),
        '--zz', part(['Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: base64'], Buffer.from(`<p>${b}</p>`).toString('base64')),
        '--zz', part(['Content-Type: application/octet-stream; name="f.bin"', 'Content-Transfer-Encoding: base64'], Buffer.from(bytes).toString('base64')),
        '--zz--', '',
      ].join('\r\n'));
      const { native, ours } = await parseBoth(raw);
      expect(ours.text).toBe(native.text);
      expect(ours.html).toBe(native.html);
      expect(ours.attachments.map((x) => Buffer.from(x.content as ArrayBuffer))).toEqual(native.attachments.map((x) => Buffer.from(x.content as ArrayBuffer)));
      expect(Buffer.from(ours.attachments[0]!.content as ArrayBuffer)).toEqual(Buffer.from(bytes));
    }), { numRuns: 100 });
  });
});
