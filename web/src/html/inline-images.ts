/**
 * A message's inline images (`cid:` parts of its HTML) as `data:` URLs: the mail frame has
 * no origin of its own, so it cannot fetch them from the API with the session; the app
 * fetches them (same origin, `GET /v1/media/{id}`) and hands them over as data.
 */
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';
import type { MediaItem } from '../api/types';

/** Inline parts above this size are left out (shown as attachments instead). */
const MAX_INLINE_BYTES = 3 * 1024 * 1024;

function toDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error('could not read an inline image'));
    reader.readAsDataURL(blob);
  });
}

const inlineParts = (media: readonly MediaItem[]) =>
  media.filter((m) => m.content_id && m.content_type.startsWith('image/') && m.size_bytes <= MAX_INLINE_BYTES);

/** Content-IDs (lower-case, no angle brackets) of `html`'s `cid:` images that `media` holds. */
export function useInlineImages(messageId: string, html: string | null, media: readonly MediaItem[]): ReadonlyMap<string, string> | undefined {
  const wanted = html && /src\s*=\s*["']?\s*cid:/i.test(html) ? inlineParts(media) : [];
  const query = useQuery({
    queryKey: ['inline-images', messageId],
    enabled: wanted.length > 0,
    staleTime: Infinity,
    queryFn: async ({ signal }) => {
      const entries = await Promise.all(
        wanted.map(async (m) => {
          const blob = unwrap(await api.GET('/v1/media/{id}', { params: { path: { id: m.id } }, parseAs: 'blob', signal }));
          return [m.content_id!.replace(/^<|>$/g, '').toLowerCase(), await toDataUrl(blob)] as const;
        }),
      );
      return new Map(entries);
    },
  });
  if (wanted.length === 0) return EMPTY;
  return query.data ?? (query.isError ? EMPTY : undefined);
}

const EMPTY: ReadonlyMap<string, string> = new Map();
