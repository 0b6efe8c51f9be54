/**
 * The SDK's tests run against the real server: started in process on loopback
 * (test/helpers.ts `liveServer`), on the store of the Vitest project (SQLite, or
 * PostgreSQL when TEST_DATABASE_URL is set), with a client holding its first key.
 */
import { liveServer, rawEmail } from '../../../test/helpers.js';
import type { ConfigOverrides } from '../../../src/config.js';
import { Switchboard, type SwitchboardConfig } from '../src/index.js';

export type SdkServer = Awaited<ReturnType<typeof sdkServer>>;

/**
 * A live server (send limits off) and a client of it.
 *
 * @param overrides configuration of the server.
 * @returns the server, its URL and key, `client(options)` for another client, and `sb`.
 */
export async function sdkServer(overrides: ConfigOverrides = {}) {
  const live = await liveServer({ rateLimitSends: 0, ...overrides });
  const baseUrl = `http://127.0.0.1:${live.server.port}`;
  const apiKey = live.server.firstRun!.apiKey;
  const client = (options: Partial<SwitchboardConfig> = {}) => new Switchboard({ baseUrl, apiKey, ...options });
  return { ...live, baseUrl, apiKey, client, sb: client() };
}

/** An identity with a capture mailbox (no relay: sends are kept in the store). */
export async function identityWithMailbox(sb: Switchboard, address: string) {
  const identity = await sb.identities.create({ handle: address.split('@')[0]!.replace(/[^a-z0-9]/gi, '') });
  const mailbox = await sb.mailboxes.create({ identity_id: identity.id, address });
  return { identity, mailbox };
}

/**
 * Mail from `from` to `to`, uploaded as raw RFC 5322.
 *
 * @returns the conversation it landed in.
 */
export async function receiveMail(sb: Switchboard, from: string, to: string, subject = 'Hello'): Promise<string> {
  const messageId = `${crypto.randomUUID()}@sdk.test`;
  const result = await sb.inbound.email(rawEmail({ from, to, subject, messageId, body: `About ${subject}.` }));
  return result.results[0]!.conversation_id!;
}

/** Runs `work` over `items` with at most `width` at once. */
export async function eachLimited<T>(items: readonly T[], width: number, work: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i]!, i);
    }
  }));
}
