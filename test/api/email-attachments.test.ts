/**
 * Attachments on email sends (uploads named by `media_ids`) and inline images of inbound
 * HTML kept as media. The composed message is read back from `/raw` and parsed with
 * postal-mime, an independent MIME parser.
 */
import PostalMime from 'postal-mime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipart, PNG } from '../channels/http-provider.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

const MAX_MESSAGE = 64 * 1024;
let h: Harness;
let conversation = '';

const upload = async (filename: string, type: string, data: Buffer) => {
  const { body, contentType } = multipart([{ name: 'file', filename, type, data }]);
  const res = await h.app.inject({ method: 'POST', url: '/v1/media', headers: { authorization: `Bearer ${h.key}`, 'content-type': contentType }, payload: body });
  expect(res.statusCode).toBe(201);
  return JSON.parse(res.body).id as string;
};
const raw = async (messageId: string) => (await h.app.inject({ url: `/v1/messages/${messageId}/raw`, headers: { authorization: `Bearer ${h.key}` } })).rawPayload;

beforeAll(async () => {
  h = await harness({ maxMessageBytes: MAX_MESSAGE });
  await identityWithMailbox(h, 'agent@files.test', 'agent');
  conversation = (await inbound(h, rawEmail({ from: 'kim@buyer.test', to: 'agent@files.test', messageId: 'files-1@buyer.test' }))).body.results[0].conversation_id;
});
afterAll(async () => { await h.close(); });

describe('email sends with media_ids', () => {
  it('attaches the uploads with their content type and a non-ASCII filename encoded per RFC 2231', async () => {
    const pdf = Buffer.from('%PDF-1.4\n% a tiny invoice\n');
    const ids = [await upload('Rechnung März.pdf', 'application/pdf', pdf), await upload('photo.png', 'image/png', PNG)];
    const sent = await h.request('POST', `/v1/conversations/${conversation}/messages`, { text: 'Invoice and photo attached.', media_ids: ids });
    expect(sent.status).toBe(202);
    expect(sent.body.message.media.map((m: any) => [m.id, m.content_type, m.filename])).toEqual([
      [ids[0], 'application/pdf', 'Rechnung März.pdf'], [ids[1], 'image/png', 'photo.png'],
    ]);
    const bytes = await raw(sent.body.message.id);
    // RFC 2231 parameter encoding (filename*=utf-8''…) for the name that is not ASCII.
    expect(bytes.toString('latin1')).toMatch(/filename\*(0\*)?=utf-8''Rechnung%20M%C3%A4rz\.pdf/i);
    const parsed = await PostalMime.parse(bytes);
    expect(parsed.text).toContain('Invoice and photo attached.');
    expect(parsed.attachments.map((a) => [a.filename, a.mimeType, Buffer.from(a.content as ArrayBuffer).equals(a.mimeType === 'image/png' ? PNG : pdf)]))
      .toEqual([['Rechnung März.pdf', 'application/pdf', true], ['photo.png', 'image/png', true]]);
    // An upload goes out once: attached, it cannot be named again.
    const again = await h.request('POST', `/v1/conversations/${conversation}/messages`, { text: 'Again?', media_ids: [ids[0]] });
    expect(again.status).toBe(400);
    expect(again.body.param).toBe('media_ids');
  });

  it('refuses a send whose attachments would pass MAX_MESSAGE_BYTES with 413, and stores nothing', async () => {
    const big = await upload('log.txt', 'text/plain', Buffer.alloc(MAX_MESSAGE, 'x'));
    const before = (await h.request('GET', `/v1/conversations/${conversation}`)).body.message_count;
    const res = await h.request('POST', `/v1/conversations/${conversation}/messages`, { text: 'The log.', media_ids: [big] });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ code: 'payload_too_large', param: 'media_ids' });
    expect((await h.request('GET', `/v1/conversations/${conversation}`)).body.message_count).toBe(before);
  });

  it('attaches uploads to a first message too, and 404s an unknown id', async () => {
    const identity = (await h.request('GET', '/v1/identities')).body.data[0].id;
    const id = await upload('note.txt', 'text/plain', Buffer.from('hello'));
    const sent = await h.request('POST', '/v1/messages', { identity_id: identity, to: 'new@buyer.test', subject: 'Files', text: 'See attached.', media_ids: [id] });
    expect(sent.status).toBe(202);
    expect(sent.body.message.media).toHaveLength(1);
    const missing = await h.request('POST', '/v1/messages', { identity_id: identity, to: 'new@buyer.test', subject: 'Files', text: 'x', media_ids: ['med_01h455vb4pex5vsknk084sn02q'] });
    expect(missing.status).toBe(404);
    expect(missing.body.param).toBe('media_ids');
  });
});

describe('inline images of inbound HTML', () => {
  it('are kept as media with their Content-ID, and the text is the HTML\'s rendering', async () => {
    const boundary = 'rel-1';
    const mail = Buffer.from([
      'From: ann@buyer.test', 'To: agent@files.test', 'Subject: Look', 'Message-ID: <inline-1@buyer.test>', 'MIME-Version: 1.0',
      `Content-Type: multipart/related; boundary="${boundary}"`, '',
      `--${boundary}`, 'Content-Type: text/html; charset=utf-8', '', '<p>The <b>dent</b>:</p><img src="cid:dent@buyer.test">', '',
      `--${boundary}`, 'Content-Type: image/png', 'Content-Transfer-Encoding: base64', 'Content-ID: <dent@buyer.test>', 'Content-Disposition: inline', '',
      PNG.toString('base64'), `--${boundary}--`, '',
    ].join('\r\n'));
    const res = await inbound(h, mail);
    const [message] = (await h.request('GET', `/v1/conversations/${res.body.results[0].conversation_id}/messages`)).body.data;
    expect(message.media).toEqual([expect.objectContaining({ content_type: 'image/png', content_id: 'dent@buyer.test', size_bytes: PNG.length })]);
    expect(message.text).toMatch(/The dent:/);
    const image = await h.app.inject({ url: `/v1/media/${message.media[0].id}`, headers: { authorization: `Bearer ${h.key}` } });
    expect(image.rawPayload.equals(PNG)).toBe(true);
  });
});
