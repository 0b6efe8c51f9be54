/**
 * A raw SMTP client for tests over real sockets, to see every reply the server gives.
 */
import net from 'node:net';

export interface Reply { code: number; text: string }

/** A raw SMTP session: `reply()` waits for the server's next complete (multi-line) reply. */
export class SmtpClient {
  readonly replies: Reply[] = [];
  readonly closed: Promise<void>;
  #buffer = '';
  #lines: string[] = [];
  #notify = () => {};

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.#buffer += text;
      let end: number;
      while ((end = this.#buffer.indexOf('\r\n')) >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        this.#lines.push(line);
        if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
          this.replies.push({ code: Number(line.slice(0, 3)), text: this.#lines.join('\n') });
          this.#lines = [];
        }
      }
      this.#notify();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => { this.#notify(); resolve(); }));
  }

  /** Connects (from `localAddress`, another loopback address for another client IP) and reads the greeting. */
  static async connect(port: number, localAddress = '127.0.0.1'): Promise<{ client: SmtpClient; greeting: Reply }> {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const client = new SmtpClient(socket);
    return { client, greeting: await client.reply() };
  }

  #taken = 0;
  async reply(ms = 5_000): Promise<Reply> {
    const deadline = Date.now() + ms;
    while (this.replies.length <= this.#taken) {
      if (this.socket.destroyed && this.replies.length <= this.#taken) throw new Error('connection closed without a reply');
      if (Date.now() > deadline) throw new Error(`no reply within ${ms} ms`);
      await new Promise<void>((resolve) => { this.#notify = resolve; setTimeout(resolve, 20); });
    }
    return this.replies[this.#taken++]!;
  }

  async command(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Resolves true when the server closes the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  }

  async quit(): Promise<void> {
    if (!this.socket.destroyed) this.socket.end('QUIT\r\n');
    await this.closedWithin(2_000);
    this.socket.destroy();
  }
}
