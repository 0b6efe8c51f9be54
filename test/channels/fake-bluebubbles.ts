/**
 * A local BlueBubbles server for tests: real HTTP on 127.0.0.1 (port 0) speaking the
 * documented REST API (BlueBubbles docs, "REST API & Webhooks"; the server's message and
 * chat routers): the password as the `password` (or `guid`, `token`) query parameter,
 * the `{ status, message, data }` envelope, `{ status, message, error: { type, error } }`
 * on errors. It implements
 *
 * - `POST /api/v1/message/text` (`chatGuid`, `tempGuid`, `message`, `method`): answers
 *   with the sent message (`guid`, `tempGuid`, `isFromMe: true`, …);
 * - `POST /api/v1/message/attachment` (multipart/form-data: `chatGuid`, `tempGuid`,
 *   `name`, `method`, the file as `attachment`; the server's sendAttachmentRules): answers
 *   with the sent message, its `attachments` listing the file; the bytes are kept in
 *   {@link FakeBlueBubbles.attachments};
 * - `POST /api/v1/message/react` (`chatGuid`, `selectedMessageGuid`, `reaction`): a 400
 *   for a message it never saw, like the real server;
 * - `POST /api/v1/chat/{chatGuid}/read`, `POST` / `DELETE /api/v1/chat/{chatGuid}/typing`.
 *
 * Every request is recorded; failures can be programmed (a status for the next requests,
 * a delay longer than the client's timeout); {@link FakeBlueBubbles.stop} makes it
 * unreachable. It also plays the webhook side: builders for serialized messages and
 * {@link FakeBlueBubbles.post}, which POSTs `{ type, data }` JSON to a webhook URL as
 * BlueBubbles does.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  /** Decoded path, e.g. `/api/v1/chat/iMessage;-;+14155550123/read`. */
  readonly path: string;
  readonly query: Record<string, string>;
  /** The JSON body; for a multipart request, its text fields. */
  readonly body: any;
}

/** A file received by `POST /api/v1/message/attachment`. */
export interface ReceivedAttachment {
  readonly chatGuid: string;
  readonly tempGuid: string;
  readonly name: string;
  readonly method: string;
  /** The file part's own name and type, as sent. */
  readonly filename: string;
  readonly contentType: string;
  readonly bytes: Buffer;
  /** The guid of the message the server answered with. */
  readonly guid: string;
}

/** `MessageInterface.possibleReactions` of the BlueBubbles server. */
const POSSIBLE_REACTIONS = ['love', 'like', 'dislike', 'laugh', 'emphasize', 'question'].flatMap((r) => [r, `-${r}`]);

export class FakeBlueBubbles {
  readonly password: string;
  readonly requests: RecordedRequest[] = [];
  /** Message guids this server knows (sent through it, or delivered to us as webhooks). */
  readonly known = new Set<string>();
  /** The messages sent through `POST /api/v1/message/text`, as serialized in the answers. */
  readonly sent: Record<string, any>[] = [];
  /** The files sent through `POST /api/v1/message/attachment`, in order. */
  readonly attachments: ReceivedAttachment[] = [];
  #server: http.Server | null = null;
  #port = 0;
  #failures: { status: number; remaining: number } | null = null;
  #delayMs = 0;
  /** When true, sends are answered without the sent message's `guid` (as when the answer is lost); its webhook echo then tells it. */
  answerWithoutGuid = false;

  constructor(password = 'bb-password') {
    this.password = password;
  }

  /** Base URL (`http://127.0.0.1:<port>`); stays the same across stop/start. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<string> {
    const server = http.createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(this.#port, '127.0.0.1', resolve));
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this.url;
  }

  /** Closes the listener: requests are refused until {@link start} again. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `times` requests get `status` (the BlueBubbles error envelope). */
  failNext(status: number, times = 1): void {
    this.#failures = { status, remaining: times };
  }

  /** Every request waits this long before being answered (0: no delay). */
  delay(ms: number): void {
    this.#delayMs = ms;
  }

  /** The recorded requests to a path (exact) or matching a pattern. */
  to(method: string, path: string | RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', this.url);
    const bytes = Buffer.concat(chunks);
    const raw = bytes.toString('utf8');
    let body: any = null;
    let form: FormData | null = null;
    const contentType = req.headers['content-type'] ?? '';
    if (contentType.startsWith('multipart/form-data')) {
      // Parsed as any HTTP server would (the WHATWG multipart parser of fetch's Response).
      form = await new Response(bytes, { headers: { 'content-type': contentType } }).formData().catch(() => null);
      body = form ? Object.fromEntries([...form.entries()].filter(([, v]) => typeof v === 'string')) : raw;
    } else {
      try { body = raw ? JSON.parse(raw) : null; } catch { body = raw; }
    }
    const path = decodeURIComponent(url.pathname);
    this.requests.push({ method: req.method ?? '', path, query: Object.fromEntries(url.searchParams), body });
    if (this.#delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#delayMs));
    const send = (status: number, payload: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    const error = (status: number, message: string, type: string, detail: string) => send(status, { status, message, error: { type, error: detail } });

    const given = url.searchParams.get('password') ?? url.searchParams.get('guid') ?? url.searchParams.get('token');
    if (given !== this.password) return error(401, 'You are not authorized to access this resource', 'Authentication Error', 'Unauthorized');
    if (this.#failures && this.#failures.remaining > 0) {
      this.#failures.remaining -= 1;
      return error(this.#failures.status, 'Server Error', 'Server Error', 'programmed failure');
    }

    const chat = /^\/api\/v1\/chat\/(.+)\/(read|typing)$/.exec(path);
    if (req.method === 'POST' && path === '/api/v1/message/text') {
      if (typeof body?.chatGuid !== 'string' || !body.chatGuid) return error(400, 'Bad Request', 'Validation Error', 'The chatGuid field is required.');
      const method = body.method ?? 'apple-script';
      if (method === 'apple-script' && !body.tempGuid) return error(400, 'Bad Request', 'Validation Error', "A 'tempGuid' is required when sending via AppleScript");
      if (!body.message) return error(400, 'Bad Request', 'Validation Error', "A 'message' is required when sending via AppleScript");
      const sent = this.message({ text: body.message, isFromMe: true, chatGuid: body.chatGuid, tempGuid: body.tempGuid });
      this.sent.push(sent);
      return send(200, { status: 200, message: 'Message sent!', data: this.answerWithoutGuid ? { ...sent, guid: undefined } : sent });
    }
    if (req.method === 'POST' && path === '/api/v1/message/attachment') {
      const file = form?.get('attachment');
      if (typeof body?.chatGuid !== 'string' || !body.chatGuid) return error(400, 'Bad Request', 'Validation Error', 'The chatGuid field is required.');
      if (typeof body?.name !== 'string' || !body.name) return error(400, 'Bad Request', 'Validation Error', 'The name field is required.');
      const method = body.method ?? 'apple-script';
      if (method === 'apple-script' && !body.tempGuid) return error(400, 'Bad Request', 'Validation Error', "A 'tempGuid' is required when sending via AppleScript");
      if (!file || typeof file === 'string' || file.size === 0) return error(400, 'Bad Request', 'Bad Request', 'Attachment not provided or was empty!');
      const sent = this.message({ text: '\uFFFC', isFromMe: true, chatGuid: body.chatGuid, tempGuid: body.tempGuid });
      const attachment = { guid: crypto.randomUUID().toUpperCase(), transferName: body.name, mimeType: file.type || null, totalBytes: file.size };
      this.attachments.push({
        chatGuid: body.chatGuid, tempGuid: body.tempGuid, name: body.name, method, filename: file.name, contentType: file.type,
        bytes: Buffer.from(await file.arrayBuffer()), guid: sent.guid as string,
      });
      return send(200, { status: 200, message: 'Attachment sent!', data: { ...sent, attachments: [attachment] } });
    }
    if (req.method === 'POST' && path === '/api/v1/message/react') {
      const { chatGuid, selectedMessageGuid, reaction } = body ?? {};
      if (!chatGuid || !selectedMessageGuid || !POSSIBLE_REACTIONS.includes(reaction)) {
        return error(400, 'Bad Request', 'Validation Error', 'chatGuid, selectedMessageGuid and a valid reaction are required.');
      }
      if (!this.known.has(selectedMessageGuid)) return error(400, 'Bad Request', 'Bad Request', 'Selected message does not exist!');
      const data = this.message({ text: null, isFromMe: true, chatGuid, associatedMessageGuid: `p:0/${selectedMessageGuid}`, associatedMessageType: reaction });
      return send(200, { status: 200, message: 'Reaction sent!', data });
    }
    if (chat && chat[2] === 'read' && req.method === 'POST') return send(200, { status: 200, message: 'Successfully marked chat as read!' });
    if (chat && chat[2] === 'typing' && req.method === 'POST') return send(200, { status: 200, message: 'Successfully started typing!' });
    if (chat && chat[2] === 'typing' && req.method === 'DELETE') return send(200, { status: 200, message: 'Successfully stopped typing!' });
    return error(404, 'Not Found', 'Not Found', 'Route not found');
  }

  /**
   * A serialized message as BlueBubbles sends it in `new-message` webhooks and API
   * answers; its guid becomes known to this server.
   */
  message(m: {
    text: string | null; isFromMe: boolean; chatGuid: string; from?: string; guid?: string; tempGuid?: string;
    associatedMessageGuid?: string | null; associatedMessageType?: string | number | null; dateCreated?: number;
  }): Record<string, unknown> {
    const guid = m.guid ?? crypto.randomUUID().toUpperCase();
    this.known.add(guid);
    const address = m.chatGuid.split(';-;')[1] ?? null;
    return {
      originalROWID: this.known.size, guid, text: m.text, attributedBody: null, handle: m.isFromMe ? null : { address: m.from ?? address, service: 'iMessage' },
      handleId: m.isFromMe ? 0 : 1, otherHandle: 0, attachments: [], subject: null, error: 0,
      dateCreated: m.dateCreated ?? Date.now(), dateRead: null, dateDelivered: null, isFromMe: m.isFromMe, isArchived: false,
      itemType: 0, groupTitle: null, groupActionType: 0, balloonBundleId: null,
      associatedMessageGuid: m.associatedMessageGuid ?? null, associatedMessageType: m.associatedMessageType ?? null,
      expressiveSendStyleId: null, threadOriginatorGuid: null, hasPayloadData: false,
      chats: [{ guid: m.chatGuid, chatIdentifier: address, style: 45, displayName: '' }],
      ...(m.tempGuid ? { tempGuid: m.tempGuid } : {}),
    };
  }

  /**
   * POSTs a webhook (`{ type, data }`, `Content-Type: application/json`) to `url`, as a
   * BlueBubbles server does for each subscribed event.
   */
  async post(url: string, type: string, data: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type, data }) });
    const text = await res.text();
    let body: any = text;
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body };
  }
}
