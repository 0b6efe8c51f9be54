/**
 * Signed, expiring public URLs for media, for providers that fetch attachments by URL
 * (the HTTP channel's `media[].url`, Twilio's `MediaUrl`): `GET /media/{id}?expires=<unix
 * seconds>&signature=<base64url HMAC-SHA256 of "{id}.{expires}">`, keyed with the server's
 * `mediaUrlSecret`. Anyone holding the URL may fetch the bytes until it expires; nothing
 * else about the media or its organization is in it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';

/** The file under the data directory that keeps a generated media URL secret across restarts. */
export const MEDIA_URL_SECRET_FILE = 'media-url-secret';

function signature(secret: string, mediaId: string, expires: number): string {
  return createHmac('sha256', secret).update(`${mediaId}.${expires}`).digest('base64url');
}

/**
 * A public URL for `mediaId`, valid for `ttlMs` from `nowMs`.
 *
 * @param config `publicUrl` (the base providers reach this server at) and `mediaUrlSecret`.
 * @param ttlMs lifetime, ms (rounded up to whole seconds).
 * @throws Error when `publicUrl` or `mediaUrlSecret` is not set.
 */
export function signedMediaUrl(
  config: Pick<Config, 'publicUrl' | 'mediaUrlSecret'>, mediaId: string, ttlMs: number, nowMs: number = Date.now(),
): string {
  if (!config.publicUrl) throw new Error('PUBLIC_URL is not set: providers cannot be given media URLs');
  if (!config.mediaUrlSecret) throw new Error('the media URL secret is not set');
  const expires = Math.ceil((nowMs + ttlMs) / 1000);
  const base = config.publicUrl.replace(/\/+$/, '');
  return `${base}/media/${encodeURIComponent(mediaId)}?expires=${expires}&signature=${signature(config.mediaUrlSecret, mediaId, expires)}`;
}

/**
 * Checks a media URL's `expires` and `signature` for `mediaId` (timing-safe).
 *
 * @returns `ok`, `expired` (signature right, time past) or `invalid` (missing, malformed or altered).
 */
export function verifyMediaUrl(
  secret: string, mediaId: string, expires: string | undefined, sig: string | undefined, nowMs: number = Date.now(),
): 'ok' | 'expired' | 'invalid' {
  if (!expires || !sig || !/^\d{1,12}$/.test(expires)) return 'invalid';
  const expected = Buffer.from(signature(secret, mediaId, Number(expires)));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  return Number(expires) * 1000 < nowMs ? 'expired' : 'ok';
}

/**
 * The configuration with `mediaUrlSecret` filled in: the configured one, or the one kept
 * in `<dataDir>/media-url-secret`, created (random, 32 bytes, mode 0600) at first start.
 * Several nodes sharing a PostgreSQL store must share the data directory (media live
 * there too) or set `MEDIA_URL_SECRET` alike.
 */
export async function withMediaUrlSecret(config: Config): Promise<Config> {
  if (config.mediaUrlSecret) return config;
  const file = path.join(config.dataDir, MEDIA_URL_SECRET_FILE);
  let secret: string;
  try {
    secret = (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fs.mkdir(config.dataDir, { recursive: true });
    const fresh = randomBytes(32).toString('base64url');
    try {
      await fs.writeFile(file, `${fresh}\n`, { flag: 'wx', mode: 0o600 });
      secret = fresh;
    } catch (e) {
      // Another process created it first: use theirs.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      secret = (await fs.readFile(file, 'utf8')).trim();
    }
  }
  return Object.freeze({ ...config, mediaUrlSecret: secret });
}
