/**
 * A provider on the far side of the generic HTTP channel, over real HTTP on 127.0.0.1:
 * it checks each outbound post's Standard Webhooks signature with the `standardwebhooks`
 * package (as a provider would), records it, and answers as told: `{ id }`, a 5xx, a
 * 401, an empty 2xx, or never (a hang). It can also serve files (inbound media by URL)
 * and sign inbound posts to the server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ProviderRequest {
  readonly headers: http.IncomingHttpHeaders;
  readonly raw: string;
  readonly body: any;
  /** Whether the signature verified with the account's secret. */
  readonly verified: boolean;
}

export type ProviderMode = 'ok' | 'no-id' | 'fail-503' | 'fail-401' | 'hang';

export class Provider {
  readonly requests: ProviderRequest[] = [];
  mode: ProviderMode = 'ok';
  secret = '';
  /** The id of the last `ok` answer (`prov-<n>`). */
  lastId: string | null = null;
  /** Files served at `GET /files/<name>`. */
  readonly files = new Map<string, { type: string; bytes: Buffer }>();
  #server: http.Server;
  #hung: http.ServerResponse[] = [];
  #n = 0;

  private constructor(server: http.Server) {
    this.#server = server;
  }

  static async start(): Promise<Provider> {
    const provider: Provider = new Provider(http.createServer((req, res) => provider.#handle(req, res)));
    await new Promise<void>((resolve) => provider.#server.listen(0, '127.0.0.1', resolve));
    return provider;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url?.startsWith('/files/')) {
        const file = this.files.get(req.url.slice('/files/'.length));
        if (!file) return void res.writeHead(404).end();
        return void res.writeHead(200, { 'content-type': file.type }).end(file.bytes);
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      try {
        new Webhook(this.secret).verify(raw, req.headers as Record<string, string>);
        verified = true;
      } catch { /* recorded as unverified */ }
      let body: unknown = null;
      try { body = JSON.parse(raw); } catch { /* not JSON */ }
      this.requests.push({ headers: req.headers, raw, body, verified });
      if (!verified) return void res.writeHead(401).end('bad signature');
      switch (this.mode) {
        case 'ok':
          this.lastId = `prov-${++this.#n}`;
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: this.lastId }));
        case 'no-id': return void res.writeHead(202).end();
        case 'fail-503': return void res.writeHead(503).end('try later');
        case 'fail-401': return void res.writeHead(401).end('token revoked');
        case 'hang': this.#hung.push(res); return;
      }
    });
  }

  async close(): Promise<void> {
    for (const res of this.#hung) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Signs an inbound post as a provider does: the body string and its three headers. */
export function signedPost(secret: string, payload: unknown, opts: { id?: string; at?: Date } = {}): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(payload);
  const id = opts.id ?? `wh_${Math.random().toString(36).slice(2)}`;
  const at = opts.at ?? new Date();
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, at, body),
    },
  };
}

/** A multipart/form-data body with the given parts. */
export function multipart(parts: readonly { name: string; filename?: string; type?: string; data: Buffer | string }[]): { body: Buffer; contentType: string } {
  const boundary = `----sbtest${Math.random().toString(36).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`));
    chunks.push(Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A small PNG (1×1, red), as bytes. */
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');
