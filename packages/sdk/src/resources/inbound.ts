/** Mail coming in over HTTP (`sb.inbound`): a raw RFC 5322 message, for providers that POST mail. */
import type { QueryOf, RequestOptions, ResultOf } from '../types.js';
import { Resource } from './resource.js';

export class Inbound extends Resource {
  /**
   * Uploads a raw message (`message/rfc822`), as if it arrived over SMTP.
   *
   * @param raw the message, headers and body, byte for byte.
   * @param params `to` names the recipient mailbox when the headers do not; `client_ip`, `helo`, `mail_from` feed SPF.
   * @throws UnprocessableEntityError `unknown_recipient`, `spoofed_sender`; SwitchboardError 413.
   */
  email(raw: string | Uint8Array | Blob, params: QueryOf<'uploadInboundEmail'> = {}, options?: RequestOptions): Promise<ResultOf<'uploadInboundEmail'>> {
    return this.write((init) => this.api.POST('/v1/inbound/email', {
      params: { query: params },
      body: raw as unknown as string,
      bodySerializer: (body: unknown) => body as BodyInit,
      ...init,
      headers: { ...init.headers, 'content-type': 'message/rfc822' },
    }), options);
  }
}
