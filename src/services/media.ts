/**
 * Media uploads (SPEC section 6, `POST /v1/media`): bytes go to the media storage
 * (media/storage.ts), a `media` row with its `storage_key` to the store. An upload is
 * not attached to any message until a send names it in `media_ids`; until then it
 * belongs to the uploader's scope: the organization for an org-wide key, the identity
 * for a key scoped to one.
 */
import type { Transaction } from 'kysely';
import { isoNow, systemClock, type Clock } from '../clock.js';
import type { OutboundMedia } from '../channels/adapter.js';
import type { MediaRef } from '../domain/events.js';
import { AppError } from '../errors.js';
import { isId, newId } from '../ids.js';
import { mediaKey, type MediaStorage } from '../media/storage.js';
import type { Database, MediaTable } from '../store/schema.js';
import type { Store } from '../store/store.js';

/** Content types `POST /v1/media` accepts. */
export const ALLOWED_MEDIA_TYPES = [
  'image/jpeg', 'image/png', 'image/gif', 'image/webp', 'video/mp4', 'audio/mpeg', 'audio/mp4', 'application/pdf', 'text/plain', 'text/vcard',
] as const;

/** Most media one message may carry. */
export const MAX_MEDIA_PER_MESSAGE = 10;

/** Who uploads or attaches: the organization, and the identity a scoped key is limited to. */
export interface MediaScope {
  readonly orgId: string;
  readonly identityId: string | null;
}

export interface NewUpload {
  readonly filename: string | null;
  /** The declared content type; parameters (`; charset=…`) are dropped. */
  readonly contentType: string;
  readonly bytes: Buffer;
}

/** The base type of a Content-Type header value, lower-cased (`text/plain; charset=utf-8` → `text/plain`). */
export function baseContentType(value: string): string {
  return value.split(';')[0]!.trim().toLowerCase();
}

/**
 * Stores an upload: the bytes durably in `storage` first, then the row, so an id that
 * was answered always has its bytes.
 *
 * @throws AppError `unsupported_media_type` (415) for a type outside {@link ALLOWED_MEDIA_TYPES},
 *   `validation_failed` for an empty file.
 */
export async function uploadMedia(
  store: Store, storage: MediaStorage, scope: MediaScope, upload: NewUpload, clock: Clock = systemClock,
): Promise<MediaTable> {
  const contentType = baseContentType(upload.contentType);
  if (!(ALLOWED_MEDIA_TYPES as readonly string[]).includes(contentType)) {
    throw new AppError('unsupported_media_type', `Media of type ${contentType || '(none)'} cannot be uploaded.`, {
      param: 'file', fix: `Upload one of: ${ALLOWED_MEDIA_TYPES.join(', ')} (the part's Content-Type names it).`,
    });
  }
  if (upload.bytes.length === 0) throw new AppError('validation_failed', 'The uploaded file is empty.', { param: 'file' });
  const id = newId('med');
  const key = mediaKey(scope.orgId, id);
  await storage.put(key, upload.bytes);
  const row: MediaTable = {
    id, org_id: scope.orgId, message_id: null, filename: upload.filename, content_type: contentType, size_bytes: upload.bytes.length,
    content_id: null, disposition: 'attachment', content: Buffer.alloc(0), storage_key: key, identity_id: scope.identityId, created_at: isoNow(clock),
  };
  try {
    await store.db.insertInto('media').values(row).execute();
  } catch (err) {
    await storage.delete(key).catch(() => {});
    throw err;
  }
  return row;
}

/** The bytes of a media row: from the storage for uploads, from the row for stored attachments. */
export async function mediaBytes(storage: MediaStorage, row: Pick<MediaTable, 'storage_key' | 'content'>): Promise<Buffer | null> {
  return row.storage_key ? storage.get(row.storage_key) : Buffer.from(row.content);
}

/**
 * Loads uploads named by a send's `media_ids` inside the send's transaction (which holds
 * the org lock, so two sends cannot attach one upload): each must be an upload of the
 * scope (the identity's, for a scoped key) not yet attached to a message (or, with
 * `attachedTo`, attached to that message: a retry sending it again).
 *
 * @returns the message's media refs and what the adapter reads, in the order given.
 * @throws AppError `not_found` (an id unknown, malformed, of another organization or
 *   identity; `param: media_ids`), `validation_failed` (repeated id, or already attached).
 */
export async function attachableMedia(
  tx: Transaction<Database>, storage: MediaStorage, scope: MediaScope, ids: readonly string[], attachedTo?: string,
): Promise<{ refs: MediaRef[]; outbound: OutboundMedia[] }> {
  if (new Set(ids).size !== ids.length) throw new AppError('validation_failed', 'A media id is named twice.', { param: 'media_ids' });
  const wanted = ids.filter((id) => isId('med', id));
  const rows = wanted.length === 0 ? [] : await tx.selectFrom('media')
    .select(['id', 'message_id', 'filename', 'content_type', 'size_bytes', 'storage_key', 'identity_id'])
    .where('org_id', '=', scope.orgId).where('id', 'in', wanted).execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  const refs: MediaRef[] = [];
  const outbound: OutboundMedia[] = [];
  for (const id of ids) {
    const row = byId.get(id);
    const visible = row && row.storage_key && (scope.identityId === null || row.identity_id === scope.identityId);
    if (!row || !visible) {
      throw new AppError('not_found', `No uploaded media with id ${id}.`, { param: 'media_ids', fix: 'Upload the file with POST /v1/media and send the `id` it returns.' });
    }
    if (row.message_id !== (attachedTo ?? null)) {
      throw new AppError('validation_failed', `Media ${id} is already attached to a message.`, { param: 'media_ids', fix: 'Upload the file again (POST /v1/media): each upload is sent once.' });
    }
    const key = row.storage_key!;
    refs.push({ id, filename: row.filename, content_type: row.content_type, size_bytes: row.size_bytes, content_id: null, disposition: 'attachment' });
    outbound.push({
      id, filename: row.filename, content_type: row.content_type, size_bytes: row.size_bytes,
      read: async () => {
        const bytes = await storage.get(key);
        if (!bytes) throw new Error(`media ${id} is missing from the storage`);
        return bytes;
      },
    });
  }
  return { refs, outbound };
}
