/**
 * The settings of a `linkedin` or `http` account (`config`): `outbound_url` (where replies
 * are POSTed) and `secret` (the `whsec_…` Standard Webhooks secret of both directions).
 * A new account without a secret gets a generated one, shown once in the create response.
 */
import { AppError } from '../../errors.js';
import { isHttpSecret, newHttpSecret } from './signing.js';

/**
 * Checks (and on creation completes) an HTTP-channel account's settings.
 *
 * @param creating true for a new account: a missing `secret` is generated.
 * @returns the settings to store, and the secret when it was generated here.
 * @throws AppError `validation_failed` (`config.secret` not a `whsec_` base64 secret of at
 *   least 16 bytes, `config.outbound_url` not an http(s) URL).
 */
export function prepareHttpAccountConfig(
  config: Record<string, unknown> | undefined, creating: boolean,
): { config: Record<string, unknown> | undefined; generatedSecret: string | null } {
  if (config?.outbound_url !== undefined) {
    const url = config.outbound_url;
    let ok = false;
    try { ok = typeof url === 'string' && ['http:', 'https:'].includes(new URL(url).protocol); } catch { /* not a URL */ }
    if (!ok) throw new AppError('validation_failed', '`config.outbound_url` must be an http or https URL.', { param: 'config.outbound_url' });
  }
  if (config?.secret !== undefined && !isHttpSecret(config.secret)) {
    throw new AppError('validation_failed', '`config.secret` must be a Standard Webhooks secret: `whsec_` and at least 16 bytes in base64.', {
      param: 'config.secret', fix: 'Leave `secret` out when creating the account to have one generated, or send `whsec_` + base64 of 24 random bytes.',
    });
  }
  if (!creating || config?.secret !== undefined) return { config, generatedSecret: null };
  const secret = newHttpSecret();
  return { config: { ...config, secret }, generatedSecret: secret };
}
