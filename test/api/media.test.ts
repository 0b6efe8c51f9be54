/**
 * Media: `POST /v1/media` limits (413, 415, 400), uploads served back byte for byte with
 * authorization (another org's key and another identity's key get 404), signed public
 * URLs (valid, expired, altered), the disk storage's keys, and `media_ids` on sends.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedMediaUrl } from '../../src/media/signed-url.js';
import { DiskMediaStorage, isStorageKey } from '../../src/media/storage.js';
import { createApiKey } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, inbound, rawEmail, tempDir, type Harness } from '../helpers.js';
import { multipart, PNG, signedPost } from '../channels/http-provider.js';

const MAX = 64 * 1024;
const SECRET = 'test-media-url-secret-0123456789';
const PUBLIC = 'http://switchboard.test';
let h: Harness;
let identityId: string;

const upload = (parts: Parameters<typeof multipart>[0], key = h.key) => {
  const { body, contentType } = multipart(parts);
  return h.app.inject({ method: 'POST', url: '/v1/media', headers: { authorization: `Bearer ${key}`, 'content-type': contentType }, payload: body });
};
const download = (id: string, key = h.key) => h.app.inject({ url: `/v1/media/${id}`, headers: { authorization: `Bearer ${key}` } });
const pathOf = (url: string) => url.slice(PUBLIC.length);

beforeAll(async () => {
  h = await harness({ maxMediaBytes: MAX, mediaUrlSecret: SECRET, publicUrl: PUBLIC });
  identityId = (await h.request('POST', '/v1/identities', { handle: 'media' })).body.id;
});
afterAll(async () => h?.close());

describe('POST /v1/media', () => {
  it('stores an upload and serves it back byte for byte', async () => {
    const res = await upload([{ name: 'file', filename: 'dot.png', type: 'image/png', data: PNG }]);
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ filename: 'dot.png', content_type: 'image/png', size_bytes: PNG.length });
    expect(body.id).toMatch(/^med_/);
    const file = await download(body.id);
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('image/png');
    expect(file.rawPayload.equals(PNG)).toBe(true);
    const row = await h.store.db.selectFrom('media').selectAll().where('id', '=', body.id).executeTakeFirstOrThrow();
    expect(row.storage_key).toBe(`${h.orgId}/${body.id}`);
    expect(Buffer.from(row.content).length).toBe(0);
    expect(fs.readFileSync(path.join(h.config.dataDir, 'media', h.orgId, body.id)).equals(PNG)).toBe(true);
  });

  it('keeps any bytes exactly', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2048 }), async (bytes) => {
      const res = await upload([{ name: 'file', filename: 'blob.pdf', type: 'application/pdf', data: Buffer.from(bytes) }]);
      expect(res.statusCode).toBe(201);
      expect((await download(res.json().id)).rawPayload.equals(Buffer.from(bytes))).toBe(true);
    }), { numRuns: 15 });
  });

  it('refuses a file over MAX_MEDIA_BYTES with 413 payload_too_large', async () => {
    const res = await upload([{ name: 'file', filename: 'big.png', type: 'image/png', data: Buffer.alloc(MAX + 1) }]);
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'payload_too_large', param: 'file' });
    expect(res.json().fix).toContain(String(MAX));
  });

  it('refuses a type outside the list with 415, and its fix lists the allowed types', async () => {
    const res = await upload([{ name: 'file', filename: 'x.html', type: 'text/html', data: '<script>alert(1)</script>' }]);
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('unsupported_media_type');
    for (const t of ['image/jpeg', 'video/mp4', 'application/pdf', 'text/vcard']) expect(res.json().fix).toContain(t);
  });

  it('refuses a body that is not multipart with 415, and a form without a `file` with 400', async () => {
    const json = await h.request('POST', '/v1/media', { file: 'x' });
    expect(json.status).toBe(415);
    expect(json.body.code).toBe('unsupported_media_type');
    const noFile = await upload([{ name: 'caption', data: 'hello' }]);
    expect(noFile.statusCode).toBe(400);
    expect(noFile.json()).toMatchObject({ code: 'validation_failed', param: 'file' });
    const wrongField = await upload([{ name: 'attachment', filename: 'a.png', type: 'image/png', data: PNG }]);
    expect(wrongField.statusCode).toBe(400);
    expect(wrongField.json().param).toBe('file');
  });

  it('refuses a form the multipart parser cannot read (no boundary, a truncated part) with 400, never a 500', async () => {
    const send = (type: string, payload: string) => h.app.inject({
      method: 'POST', url: '/v1/media', headers: { authorization: `Bearer ${h.key}`, 'content-type': type }, payload,
    });
    const noBoundary = await send('multipart/form-data', '');
    expect(noBoundary.statusCode).toBe(400);
    expect(noBoundary.json()).toMatchObject({ code: 'validation_failed', param: 'file' });
    const truncated = await send('multipart/form-data; boundary=b',
      '--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\nabc');
    expect(truncated.statusCode).toBeLessThan(500);
    expect(truncated.statusCode).toBeGreaterThanOrEqual(400);
  });

  it('keeps only the base name of a file name', async () => {
    const res = await upload([{ name: 'file', filename: '../../etc/passwd.txt', type: 'text/plain', data: 'x' }]);
    expect(res.json().filename).toBe('passwd.txt');
  });
});

describe('who sees an upload', () => {
  let mediaId: string;
  beforeAll(async () => { mediaId = (await upload([{ name: 'file', filename: 'a.png', type: 'image/png', data: PNG }])).json().id; });

  it('is 404 for another organization, upload or attachment', async () => {
    const other = await h.otherOrg();
    expect((await download(mediaId, other)).statusCode).toBe(404);
  });

  it('belongs to the uploading key\'s identity until attached: other identities\' keys get 404', async () => {
    const otherIdentity = (await h.request('POST', '/v1/identities', { handle: 'elsewhere' })).body.id;
    const mine = (await createApiKey(h.store.db, h.orgId, 'media scoped', { identityId })).key;
    const theirs = (await createApiKey(h.store.db, h.orgId, 'other scoped', { identityId: otherIdentity })).key;
    expect((await download(mediaId, mine)).statusCode).toBe(404);
    const scopedUpload = (await upload([{ name: 'file', filename: 'b.png', type: 'image/png', data: PNG }], mine)).json().id;
    expect((await download(scopedUpload, mine)).statusCode).toBe(200);
    expect((await download(scopedUpload, theirs)).statusCode).toBe(404);
    expect((await download(scopedUpload)).statusCode).toBe(200);
  });
});

describe('signed media URLs', () => {
  let mediaId: string;
  beforeAll(async () => { mediaId = (await upload([{ name: 'file', filename: 'a.png', type: 'image/png', data: PNG }])).json().id; });

  it('serves the bytes without an API key while the URL is valid', async () => {
    const url = signedMediaUrl({ publicUrl: PUBLIC, mediaUrlSecret: SECRET }, mediaId, 60_000);
    const res = await h.app.inject({ url: pathOf(url) });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(PNG)).toBe(true);
  });

  it('refuses an expired URL and an altered one with 403 media_url_invalid', async () => {
    const expired = signedMediaUrl({ publicUrl: PUBLIC, mediaUrlSecret: SECRET }, mediaId, 1000, Date.now() - 60_000);
    const good = new URL(signedMediaUrl({ publicUrl: PUBLIC, mediaUrlSecret: SECRET }, mediaId, 60_000));
    const later = new URL(good);
    later.searchParams.set('expires', String(Number(good.searchParams.get('expires')) + 3600));
    const otherMedia = new URL(good);
    otherMedia.pathname = '/media/med_01h455vb4pex5vsknk084sn02q';
    const forged = new URL(signedMediaUrl({ publicUrl: PUBLIC, mediaUrlSecret: 'some-other-secret-0123456789' }, mediaId, 60_000));
    for (const url of [expired, later.toString(), otherMedia.toString(), forged.toString(), `${PUBLIC}/media/${mediaId}`]) {
      const res = await h.app.inject({ url: pathOf(url) });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().code).toBe('media_url_invalid');
    }
    expect((await h.app.inject({ url: pathOf(expired) })).json().detail).toMatch(/expired/);
  });

  it('answers 404 for a validly signed URL of media that does not exist', async () => {
    const url = signedMediaUrl({ publicUrl: PUBLIC, mediaUrlSecret: SECRET }, 'med_01h455vb4pex5vsknk084sn02q', 60_000);
    expect((await h.app.inject({ url: pathOf(url) })).statusCode).toBe(404);
  });
});

describe('media_ids on a send', () => {
  let conversationId: string;
  let secret: string;
  let accountId: string;

  beforeAll(async () => {
    // An HTTP account whose provider is unreachable is enough: the checks come before the send.
    const acct = await h.request('POST', '/v1/channel_accounts', { identity_id: identityId, channel: 'http', address: 'media-bot', config: { outbound_url: 'http://127.0.0.1:9/x' } });
    secret = acct.body.secret;
    accountId = acct.body.id;
    const signed = signedPost(secret, { type: 'message', id: 'm1', from: { address: 'u1' }, text: 'hi' });
    conversationId = (await h.app.inject({ method: 'POST', url: `/v1/inbound/http/${accountId}`, headers: signed.headers, payload: signed.body })).json().conversation_id;
  });

  it('refuses an unknown, foreign or repeated id before anything is sent', async () => {
    const otherKey = await h.otherOrg();
    const { body, contentType } = multipart([{ name: 'file', filename: 'o.png', type: 'image/png', data: PNG }]);
    const foreign = (await h.app.inject({ method: 'POST', url: '/v1/media', headers: { authorization: `Bearer ${otherKey}`, 'content-type': contentType }, payload: body })).json().id;
    const before = (await h.request('GET', `/v1/conversations/${conversationId}`)).body.message_count;
    for (const ids of [['med_01h455vb4pex5vsknk084sn02q'], ['nonsense'], [foreign]]) {
      const res = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'see attached', media_ids: ids });
      expect(res.status, JSON.stringify(res.body)).toBe(404);
      expect(res.body.param).toBe('media_ids');
    }
    const mine = (await upload([{ name: 'file', filename: 'a.png', type: 'image/png', data: PNG }])).json().id;
    const twice = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'x', media_ids: [mine, mine] });
    expect(twice.status).toBe(400);
    const tooMany = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'x', media_ids: Array(11).fill(mine) });
    expect(tooMany.status).toBe(400);
    expect((await h.request('GET', `/v1/conversations/${conversationId}`)).body.message_count).toBe(before);
  });

  it('attaches an upload once: a second send naming it is refused', async () => {
    const id = (await upload([{ name: 'file', filename: 'a.png', type: 'image/png', data: PNG }])).json().id;
    const first = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'here', media_ids: [id] });
    expect(first.status).toBe(502); // the provider is unreachable, but the message (with its media) is recorded
    const messages = (await h.request('GET', `/v1/conversations/${conversationId}/messages?order=desc&limit=1`)).body.data;
    expect(messages[0].media.map((m: { id: string }) => m.id)).toEqual([id]);
    const again = await h.request('POST', `/v1/conversations/${conversationId}/messages`, { text: 'again', media_ids: [id] });
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ code: 'validation_failed', param: 'media_ids' });
  });

  it('attaches media_ids to an email reply (test/api/email-attachments.test.ts has the MIME side)', async () => {
    await identityWithMailbox(h, 'desk@media.test', 'desk');
    const conv = (await inbound(h, rawEmail({ from: 'ann@cust.test', to: 'desk@media.test', messageId: 'm-1@cust.test' }))).body.results[0].conversation_id;
    const id = (await upload([{ name: 'file', filename: 'a.png', type: 'image/png', data: PNG }])).json().id;
    const res = await h.request('POST', `/v1/conversations/${conv}/messages`, { text: 'attached', media_ids: [id] });
    expect(res.status).toBe(202);
    expect(res.body.message.media.map((m: any) => m.id)).toEqual([id]);
  });
});

describe('DiskMediaStorage', () => {
  it('refuses keys that could leave its directory', async () => {
    const storage = new DiskMediaStorage(tempDir());
    for (const key of ['../x', 'a/../../b', '/etc/passwd', 'a//b', '', '.', 'a/.', 'a\\b']) {
      expect(isStorageKey(key), key).toBe(false);
      await expect(storage.put(key, Buffer.from('x'))).rejects.toThrow(/invalid media storage key/);
    }
  });

  it('puts, gets and deletes', async () => {
    const storage = new DiskMediaStorage(tempDir());
    await fc.assert(fc.asyncProperty(fc.stringMatching(/^[A-Za-z0-9_-]{1,20}\/[A-Za-z0-9_-]{1,20}$/), fc.uint8Array({ maxLength: 512 }), async (key, bytes) => {
      await storage.put(key, Buffer.from(bytes));
      expect((await storage.get(key))!.equals(Buffer.from(bytes))).toBe(true);
      await storage.delete(key);
      expect(await storage.get(key)).toBeNull();
    }), { numRuns: 30 });
  });
});
