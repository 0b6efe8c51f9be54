/**
 * A client for a BlueBubbles server's REST API (BlueBubbles docs, "REST API & Webhooks";
 * the server's routers under packages/server/src/server/api/http/api/v1): send text,
 * attachments, tapbacks, read receipts and typing indicators in a chat. Every request carries the
 * server password as the `password` query parameter, as BlueBubbles expects; every
 * answer has the envelope `{ status, message, data }` (errors add `error: { type, error }`).
 *
 * Failures become {@link UpstreamError}: a refused connection, a timeout or any 5xx (the
 * proxy in front of the Mac cannot reach it, or BlueBubbles could not send) is retryable
 * and leaves the account's health alone, since a transient failure is not a disconnection
 * and a retry with the same Idempotency-Key must be able to go through; a 401 (wrong
 * password: BlueBubbles' only answer that says the credentials are bad) marks the account
 * `error`; other 4xx are not retryable.
 */
import { UpstreamError } from '../adapter.js';
import { outboundFailure, outboundFetch, readTextAtMost, refusalOf } from '../../net/outbound.js';

/** The iMessage tapbacks BlueBubbles sends (`POST /api/v1/message/react`), in associatedMessageType order 2000–2005. */
export const TAPBACKS = ['love', 'like', 'dislike', 'laugh', 'emphasize', 'question'] as const;
export type Tapback = (typeof TAPBACKS)[number];

/** How BlueBubbles sends: through AppleScript (the default; needs a `tempGuid`) or the Private API helper. */
export type SendMethod = 'apple-script' | 'private-api';

export interface BlueBubblesClientConfig {
  /** Base URL of the server, e.g. `https://bb.example.com` or `http://127.0.0.1:1234`. */
  readonly serverUrl: string;
  /** The server password (sent as the `password` query parameter). */
  readonly password: string;
  /** Per-request timeout, ms. */
  readonly timeoutMs: number;
  /** Whether the server may be on a private, loopback or link-local address (net/outbound.ts). */
  readonly outboundAllowPrivate: boolean;
}

/** A message as BlueBubbles serializes it; only the fields this client reads. */
export interface BlueBubblesMessage {
  readonly guid?: string;
  readonly tempGuid?: string;
  readonly [field: string]: unknown;
}

/** The chat GUID of a one-to-one iMessage chat with `address` (E.164 or email): `iMessage;-;+14155550123`. */
export function chatGuidFor(address: string): string {
  return `iMessage;-;${address}`;
}

/** The counterpart of a one-to-one chat GUID (`iMessage;-;x` or `SMS;-;x`), or null for a group chat (`;+;`) or anything else. */
export function addressOfChatGuid(chatGuid: string): string | null {
  const m = /^[A-Za-z]+;-;(.+)$/.exec(chatGuid);
  return m ? m[1]! : null;
}

/** Read of a BlueBubbles answer, bytes (its JSON answers are small; the rest is not read). */
const ANSWER_BYTES = 1024 * 1024;

/** One BlueBubbles server, reached with its password. */
export class BlueBubblesClient {
  readonly #config: BlueBubblesClientConfig;

  constructor(config: BlueBubblesClientConfig) {
    this.#config = config;
  }

  /**
   * Sends a text (`POST /api/v1/message/text`). BlueBubbles answers once the message is
   * in chat.db, with the sent message (its `guid`) and the `tempGuid` echoed back.
   *
   * @param tempGuid our reference for the message; BlueBubbles echoes it on the message.
   * @throws UpstreamError
   */
  async sendText(chatGuid: string, tempGuid: string, message: string, method: SendMethod = 'apple-script'): Promise<BlueBubblesMessage> {
    const data = await this.#request('POST', '/api/v1/message/text', { chatGuid, tempGuid, message, method });
    return (typeof data === 'object' && data !== null ? data : {}) as BlueBubblesMessage;
  }

  /**
   * Sends one attachment as its own message (`POST /api/v1/message/attachment`,
   * multipart/form-data: `chatGuid`, `tempGuid`, `name`, `method` and the file as
   * `attachment`; the server's MessageValidator.sendAttachmentRules). BlueBubbles answers
   * with the sent message, as for text.
   *
   * @param tempGuid our reference for this attachment's message; unique per message sent
   *   (BlueBubbles refuses a tempGuid it is still sending).
   * @throws UpstreamError
   */
  async sendAttachment(
    chatGuid: string, tempGuid: string, file: { readonly name: string; readonly contentType: string; readonly bytes: Buffer },
    method: SendMethod = 'apple-script',
  ): Promise<BlueBubblesMessage> {
    const form = new FormData();
    form.set('chatGuid', chatGuid);
    form.set('tempGuid', tempGuid);
    form.set('name', file.name);
    form.set('method', method);
    form.set('attachment', new Blob([new Uint8Array(file.bytes)], { type: file.contentType }), file.name);
    const data = await this.#request('POST', '/api/v1/message/attachment', form);
    return (typeof data === 'object' && data !== null ? data : {}) as BlueBubblesMessage;
  }

  /**
   * Sends a tapback on a message (`POST /api/v1/message/react`; needs the Private API).
   *
   * @param reaction a {@link Tapback}; `removed` sends `-love` etc., which takes it back.
   * @throws UpstreamError
   */
  async react(chatGuid: string, selectedMessageGuid: string, reaction: Tapback, removed = false): Promise<void> {
    await this.#request('POST', '/api/v1/message/react', { chatGuid, selectedMessageGuid, reaction: removed ? `-${reaction}` : reaction });
  }

  /** Marks the chat read, which sends the read receipt (`POST /api/v1/chat/{chatGuid}/read`). @throws UpstreamError */
  async markRead(chatGuid: string): Promise<void> {
    await this.#request('POST', `/api/v1/chat/${encodeURIComponent(chatGuid)}/read`);
  }

  /** Starts (`POST`) or stops (`DELETE`) our typing indicator (`/api/v1/chat/{chatGuid}/typing`). @throws UpstreamError */
  async typing(chatGuid: string, state: 'started' | 'stopped'): Promise<void> {
    await this.#request(state === 'started' ? 'POST' : 'DELETE', `/api/v1/chat/${encodeURIComponent(chatGuid)}/typing`);
  }

  async #request(method: 'POST' | 'DELETE', path: string, body?: Record<string, unknown> | FormData): Promise<unknown> {
    let url: URL;
    try {
      url = new URL(path, this.#config.serverUrl.replace(/\/*$/, '/'));
    } catch {
      throw new UpstreamError(`The BlueBubbles server URL ${JSON.stringify(this.#config.serverUrl)} is not a URL.`, { retryable: false, accountStatus: 'error' });
    }
    url.searchParams.set('password', this.#config.password);
    let res: Response;
    try {
      const form = body instanceof FormData;
      res = await outboundFetch(this.#config, url, {
        method,
        // A FormData body sets its own multipart Content-Type (with the boundary).
        headers: body && !form ? { 'content-type': 'application/json' } : {},
        body: body === undefined ? undefined : form ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#config.timeoutMs),
      });
    } catch (err) {
      const refusal = refusalOf(err);
      if (refusal) throw new UpstreamError(`The BlueBubbles server URL is refused: ${refusal.message}.`, { retryable: false, accountStatus: 'error' });
      const why = outboundFailure(err, this.#config.timeoutMs);
      throw new UpstreamError(`The BlueBubbles server at ${url.origin} is unreachable: ${why}.`, { retryable: true });
    }
    const text = await readTextAtMost(res, ANSWER_BYTES);
    let parsed: { status?: unknown; message?: unknown; data?: unknown; error?: { error?: unknown; message?: unknown } } = {};
    try { parsed = JSON.parse(text) as typeof parsed; } catch { /* not JSON: a proxy's page */ }
    if (res.ok) return parsed.data;
    const detail = [parsed.message, parsed.error?.error ?? parsed.error?.message].filter((s) => typeof s === 'string' && s).join(': ') || res.statusText;
    const message = `BlueBubbles answered ${method} ${path} with HTTP ${res.status}${detail ? ` (${detail})` : ''}.`;
    if (res.status === 401) throw new UpstreamError(message, { retryable: false, status: 401, accountStatus: 'error' });
    throw new UpstreamError(message, { retryable: res.status >= 500, status: res.status });
  }
}
