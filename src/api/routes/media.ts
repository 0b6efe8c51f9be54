/**
 * Media: `POST /v1/media` (multipart upload, one file field `file`), and the signed public
 * URLs providers fetch attachments from (`GET /media/{id}?expires&signature`, no API key:
 * media/signed-url.ts). `GET /v1/media/{id}` (with a key) is in routes/messages.ts.
 */
import multipart from '@fastify/multipart';
import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import { AppError } from '../../errors.js';
import { isId } from '../../ids.js';
import { verifyMediaUrl } from '../../media/signed-url.js';
import { ALLOWED_MEDIA_TYPES, mediaBytes, uploadMedia } from '../../services/media.js';
import { principalOf } from '../auth.js';
import { Binary, IdParams, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';

const Upload = Type.Object({
  id: Type.String({ description: '`med_…` id: pass it in `media_ids` of a send' }),
  filename: Type.Union([Type.String(), Type.Null()]),
  content_type: Type.String(),
  size_bytes: Type.Integer({ description: 'bytes' }),
  created_at: Type.String({ format: 'date-time' }),
});

const SignedQuery = Type.Object({
  expires: Type.Optional(Type.String({ maxLength: 20, description: 'unix seconds' })),
  signature: Type.Optional(Type.String({ maxLength: 100 })),
});

/** A file name without directories or control characters, at most 255 characters; null when nothing is left. */
export function cleanFilename(name: string | undefined): string | null {
  const base = (name ?? '').split(/[\\/]/).pop()!.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return base && base !== '.' && base !== '..' ? base : null;
}

const contentDisposition = (filename: string | null) => (filename ? `attachment; filename*=UTF-8''${encodeURIComponent(filename)}` : 'attachment');

/**
 * A form the multipart parser (busboy) could not read (no boundary, a truncated part):
 * the client's fault, so 400, never a 500. Errors that already carry an HTTP status
 * (the plugin's own limits) pass through to the problem handler.
 *
 * @throws always.
 */
function malformedForm(err: unknown): never {
  if (err instanceof AppError || typeof (err as { statusCode?: unknown })?.statusCode === 'number') throw err;
  throw new AppError('validation_failed', `The multipart body could not be read: ${(err as Error)?.message ?? 'malformed'}.`, {
    param: 'file', fix: 'POST a well-formed multipart/form-data body with its boundary in Content-Type (curl -F file=@photo.jpg).',
  });
}

/**
 * Sends media bytes as a download that a browser never renders in this server's origin:
 * always `attachment`, `nosniff`, and a sandboxing CSP (inbound media types are the
 * sender's word, and may say `text/html`).
 */
export function sendMediaBytes(reply: FastifyReply, row: { content_type: string; filename: string | null }, bytes: Buffer): FastifyReply {
  return reply.type(row.content_type).header('x-content-type-options', 'nosniff').header('content-security-policy', 'sandbox')
    .header('content-disposition', contentDisposition(row.filename)).send(bytes);
}

export function mediaRoutes(app: Api, { store, config, clock, media }: ApiContext): void {
  const maxBytes = config.maxMediaBytes;

  app.register(async (scope) => {
    await scope.register(multipart, { limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 1024, parts: 11 } });

    (scope as unknown as Api).post('/v1/media', {
      config: { permission: 'messages:send' },
      schema: {
        tags: ['messages'],
        summary: 'Upload media (multipart/form-data, one file field `file`) to attach to a send with `media_ids`',
        description: `At most ${maxBytes} bytes (MAX_MEDIA_BYTES); types ${ALLOWED_MEDIA_TYPES.join(', ')}.`,
        consumes: ['multipart/form-data'],
        response: { 201: Upload, 400: Problem, 401: Problem, 403: Problem, 413: Problem, 415: Problem },
      },
    }, async (request, reply) => {
      const principal = principalOf(request);
      if (!request.isMultipart()) {
        throw new AppError('unsupported_media_type', `Media are uploaded as multipart/form-data, not ${request.headers['content-type'] ?? 'an untyped body'}.`, {
          fix: 'POST multipart/form-data with one file field named `file` (curl -F file=@photo.jpg).',
        });
      }
      const part = await request.file().catch(malformedForm);
      if (!part) throw new AppError('validation_failed', 'The form has no file.', { param: 'file', fix: 'Send the file in a form field named `file` (curl -F file=@photo.jpg).' });
      if (part.fieldname !== 'file') {
        part.file.resume();
        throw new AppError('validation_failed', `The file is in field \`${part.fieldname}\`; it must be in \`file\`.`, { param: 'file' });
      }
      let bytes: Buffer;
      try {
        bytes = await part.toBuffer();
      } catch (err) {
        if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
          throw new AppError('payload_too_large', `The file is over the limit of ${maxBytes} bytes.`, {
            param: 'file', fix: `Upload a file of at most ${maxBytes} bytes (the server's MAX_MEDIA_BYTES).`,
          });
        }
        return malformedForm(err);
      }
      const row = await uploadMedia(store, media, principal, { filename: cleanFilename(part.filename), contentType: part.mimetype, bytes }, clock);
      return reply.status(201).send({ id: row.id, filename: row.filename, content_type: row.content_type, size_bytes: row.size_bytes, created_at: row.created_at });
    });
  });

  app.get('/media/:id', {
    schema: {
      tags: ['messages'],
      summary: 'Download media by a signed, expiring URL (handed to channel providers; no API key)',
      security: [], params: IdParams, querystring: SignedQuery, response: { 200: Binary, 403: Problem, 404: Problem },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const verdict = verifyMediaUrl(config.mediaUrlSecret ?? '', id, request.query.expires, request.query.signature);
    if (verdict !== 'ok') {
      throw new AppError('media_url_invalid', verdict === 'expired' ? 'This media URL has expired.' : 'This media URL is not signed by this server.');
    }
    const row = isId('med', id)
      ? await store.db.selectFrom('media').select(['content', 'storage_key', 'content_type', 'filename']).where('id', '=', id).executeTakeFirst()
      : undefined;
    const bytes = row && await mediaBytes(media, row);
    if (!row || !bytes) throw new AppError('not_found', 'No media with that id.');
    return sendMediaBytes(reply.header('cache-control', 'private, max-age=300'), row, bytes);
  });
}
