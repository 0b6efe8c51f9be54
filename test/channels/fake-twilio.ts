/**
 * A local stand-in for Twilio, over real HTTP on 127.0.0.1: the Messages API
 * (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP basic auth,
 * Twilio's JSON answers and error bodies), media of incoming messages behind basic auth,
 * and Twilio's side of the webhooks: signed form posts (`X-Twilio-Signature`, made with
 * the `twilio` package's `getExpectedTwilioSignature`) of incoming messages and of status
 * callbacks to the `StatusCallback` a message was created with.
 *
 * https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';

/** One request the fake received (Messages API or media). */
export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly authorized: boolean;
  readonly form: Record<string, string>;
  /** The status the fake answered. */
  readonly answered: number | 'hung';
}

/** A message the fake accepted (answered 201). */
export interface AcceptedMessage {
  readonly sid: string;
  readonly to: string;
  readonly from: string;
  readonly body: string;
  readonly statusCallback: string | null;
  /** The `MediaUrl` parameters (MMS), in order. */
  readonly mediaUrls: string[];
}

/** A programmed answer for the next Messages API request. */
export type Failure =
  | { readonly status: number; readonly code?: number; readonly message?: string }
  | { readonly hang: true };

const E164 = /^\+[1-9]\d{6,14}$/;

export class FakeTwilio {
  readonly accountSid: string;
  readonly authToken: string;
  /** Every request, in order. */
  readonly requests: ApiRequest[] = [];
  /** Messages accepted, in order. */
  readonly accepted: AcceptedMessage[] = [];
  readonly #failures: Failure[] = [];
  readonly #media = new Map<string, { content: Buffer; contentType: string }>();
  readonly #sockets = new Set<net.Socket>();
  readonly #server: http.Server;
  #baseUrl = '';

  private constructor(accountSid: string, authToken: string) {
    this.accountSid = accountSid;
    this.authToken = authToken;
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /** Starts a fake Twilio account on a free loopback port. */
  static async start(): Promise<FakeTwilio> {
    const fake = new FakeTwilio(`AC${crypto.randomBytes(16).toString('hex')}`, crypto.randomBytes(16).toString('hex'));
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    fake.#baseUrl = `http://127.0.0.1:${(fake.#server.address() as net.AddressInfo).port}`;
    return fake;
  }

  /** What to put in the channel account's `base_url`. */
  get baseUrl(): string {
    return this.#baseUrl;
  }

  /** The channel account config for this fake (`account_sid`, `auth_token`, `base_url`). */
  accountConfig(): Record<string, string> {
    return { account_sid: this.accountSid, auth_token: this.authToken, base_url: this.#baseUrl };
  }

  /** The next authorized requests (Messages API or media) answer these, in order (then normal service resumes). */
  failNext(...failures: Failure[]): void {
    this.#failures.push(...failures);
  }

  /** Serves bytes as the media of an incoming message; @returns its `MediaUrl`. */
  addMedia(messageSid: string, content: Buffer, contentType: string): string {
    const path = `/2010-04-01/Accounts/${this.accountSid}/Messages/${messageSid}/Media/ME${crypto.randomBytes(16).toString('hex')}`;
    this.#media.set(path, { content, contentType });
    return `${this.#baseUrl}${path}`;
  }

  /**
   * Posts a webhook the way Twilio does: form-encoded, signed over `url` and the fields
   * with `token` (the account's auth token unless given), over real HTTP.
   */
  async post(url: string, params: Record<string, string>, opts: { token?: string; signedUrl?: string; signature?: string | null } = {}) {
    const signature = opts.signature === undefined
      ? getExpectedTwilioSignature(opts.token ?? this.authToken, opts.signedUrl ?? url, params)
      : opts.signature;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'TwilioProxy/1.1',
        ...(signature === null ? {} : { 'x-twilio-signature': signature }),
      },
      body: new URLSearchParams(params),
    });
    const text = await res.text();
    return { status: res.status, contentType: res.headers.get('content-type'), text, json: () => JSON.parse(text) };
  }

  /** The fields of an incoming SMS webhook ("A message comes in"), as Twilio sends them. */
  incomingFields(fields: { From: string; To: string; Body: string; MessageSid?: string; media?: readonly string[] }): Record<string, string> {
    const sid = fields.MessageSid ?? `SM${crypto.randomBytes(16).toString('hex')}`;
    const media = fields.media ?? [];
    return {
      ToCountry: 'US', ToState: 'CA', SmsMessageSid: sid, NumMedia: String(media.length), ToCity: '', FromZip: '', SmsSid: sid,
      FromState: 'CA', SmsStatus: 'received', FromCity: '', Body: fields.Body, FromCountry: 'US', To: fields.To,
      ToZip: '', NumSegments: '1', MessageSid: sid, AccountSid: this.accountSid, From: fields.From, ApiVersion: '2010-04-01',
      ...Object.fromEntries(media.flatMap((url, i) => [[`MediaUrl${i}`, url], [`MediaContentType${i}`, this.#media.get(new URL(url).pathname)?.contentType ?? 'image/jpeg']])),
    };
  }

  /**
   * Posts a status callback for an accepted message to its `StatusCallback`, as Twilio
   * does when the message's status changes.
   */
  async statusCallback(sid: string, status: string, extra: Record<string, string> = {}) {
    const message = this.accepted.find((m) => m.sid === sid);
    if (!message?.statusCallback) throw new Error(`no StatusCallback for ${sid}`);
    return this.post(message.statusCallback, {
      AccountSid: this.accountSid, ApiVersion: '2010-04-01', From: message.from, To: message.to,
      MessageSid: sid, SmsSid: sid, MessageStatus: status, SmsStatus: status, ...extra,
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #authorized(req: http.IncomingMessage): boolean {
    const expected = `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`;
    return req.headers.authorization === expected;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', this.#baseUrl);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const error = (status: number, code: number, message: string) =>
      json(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });

    const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const form = Object.fromEntries(params);
    const authorized = this.#authorized(req);
    const answer = (status: number | 'hung') => this.requests.push({ method: req.method ?? '', path: url.pathname, authorized, form, answered: status });
    const failure = authorized ? this.#failures.shift() : undefined;
    if (failure && 'hang' in failure) {
      answer('hung');
      return; // never answers; the socket is destroyed on close()
    }
    if (failure) {
      answer(failure.status);
      return error(failure.status, failure.code ?? (failure.status >= 500 ? 20500 : 21211), failure.message ?? (failure.status >= 500 ? 'Internal Server Error' : 'Invalid request'));
    }
    const media = req.method === 'GET' ? this.#media.get(url.pathname) : undefined;
    if (media) {
      answer(authorized ? 200 : 401);
      if (!authorized) return error(401, 20003, 'Authenticate');
      res.writeHead(200, { 'content-type': media.contentType, 'content-length': media.content.length }).end(media.content);
      return;
    }
    if (req.method !== 'POST' || url.pathname !== `/2010-04-01/Accounts/${this.accountSid}/Messages.json`) {
      answer(404);
      return error(404, 20404, `The requested resource ${url.pathname} was not found`);
    }
    if (!authorized) {
      answer(401);
      return error(401, 20003, 'Authenticate');
    }
    if (!form.To || !E164.test(form.To)) {
      answer(400);
      return error(400, 21211, `The 'To' number ${form.To ?? ''} is not a valid phone number.`);
    }
    if (!form.From) {
      answer(400);
      return error(400, 21603, 'The \'From\' phone number is required.');
    }
    if (!form.Body && !params.has('MediaUrl')) {
      answer(400);
      return error(400, 21602, 'Message body is required.');
    }
    const sid = `SM${crypto.randomBytes(16).toString('hex')}`;
    this.accepted.push({ sid, to: form.To, from: form.From, body: form.Body ?? '', statusCallback: form.StatusCallback ?? null, mediaUrls: params.getAll('MediaUrl') });
    answer(201);
    const now = new Date().toUTCString().replace('GMT', '+0000');
    json(201, {
      account_sid: this.accountSid, api_version: '2010-04-01', body: form.Body, date_created: now, date_sent: null, date_updated: now,
      direction: 'outbound-api', error_code: null, error_message: null, from: form.From, messaging_service_sid: null,
      num_media: '0', num_segments: '1', price: null, price_unit: null, sid, status: 'queued',
      subresource_uris: { media: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sid}/Media.json` },
      to: form.To, uri: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sid}.json`,
    });
  }
}
