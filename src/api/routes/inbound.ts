/**
 * `POST /v1/inbound/email`: a raw RFC 5322 message uploaded over HTTP (for providers
 * that POST mail). Answers 2xx only after the message is committed.
 */
import Type from 'typebox';
import { AppError } from '../../errors.js';
import { receiveEmail } from '../../services/receive-email.js';
import { routeRecipient, type MailboxRoute } from '../../store/identities.js';
import { principalOf } from '../auth.js';
import { EmailString, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';

export const RAW_MAIL_TYPES = ['message/rfc822', 'application/octet-stream', 'text/plain'];

const Outcome = Type.Object({
  mailbox_id: Type.String(),
  status: Type.Union([Type.Literal('stored'), Type.Literal('duplicate'), Type.Literal('rejected'), Type.Literal('bounce')], {
    description: '`bounce`: a delivery report about one of our messages, recorded as its `message_status: bounced` (`message_id` is that message); `rejected`: the mailbox\'s `inbound_policy` refused it as spoofed',
  }),
  conversation_id: Type.Union([Type.String(), Type.Null()]),
  message_id: Type.Union([Type.String(), Type.Null()]),
});

const InboundQuery = Type.Object({
  to: Type.Optional(EmailString),
  client_ip: Type.Optional(Type.String({ format: 'ipv4', description: 'the IP address of the SMTP client that handed the message to your provider (SPF is checked against it; without it SPF is `none`)' })),
  client_ip6: Type.Optional(Type.String({ format: 'ipv6', description: 'as `client_ip`, for an IPv6 client' })),
  helo: Type.Optional(Type.String({ maxLength: 255, description: 'that client\'s HELO/EHLO name' })),
  mail_from: Type.Optional(Type.String({ maxLength: 320, description: 'the envelope sender (MAIL FROM); by default the Return-Path header' })),
});

/** Recipient addresses named in a header block (Delivered-To, To, Cc), lower-cased. */
function headerRecipients(raw: Buffer): string[] {
  const text = raw.subarray(0, 64 * 1024).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = (end === -1 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const out = new Set<string>();
  for (const line of head.split(/\r?\n/)) {
    const m = /^(delivered-to|x-original-to|to|cc)\s*:(.*)$/i.exec(line);
    if (!m) continue;
    for (const a of m[2]!.match(/[^\s<>,;:"()]+@[^\s<>,;:"()]+/g) ?? []) out.add(a.toLowerCase());
  }
  return [...out];
}

export function inboundRoutes(app: Api, { store, config, clock, resolver, parse, metrics }: ApiContext): void {
  app.post('/v1/inbound/email', {
    config: { permission: 'inbound:write' },
    bodyLimit: config.maxMessageBytes,
    schema: {
      tags: ['inbound'],
      summary: 'Upload a raw RFC 5322 message (Content-Type message/rfc822)',
      consumes: [...RAW_MAIL_TYPES],
      querystring: InboundQuery,
      response: {
        201: Type.Object({ results: Type.Array(Outcome) }),
        200: Type.Object({ results: Type.Array(Outcome) }),
        400: Problem, 401: Problem, 413: Problem, 415: Problem, 422: Problem,
      },
    },
  }, async (request, reply) => {
    const { orgId } = principalOf(request);
    const raw = request.body;
    if (!Buffer.isBuffer(raw)) {
      throw new AppError('unsupported_media_type', `Raw mail is expected, not ${request.headers['content-type'] ?? 'an untyped body'}.`, {
        fix: `POST the message bytes with Content-Type ${RAW_MAIL_TYPES[0]}.`,
      });
    }
    if (raw.length === 0) {
      throw new AppError('validation_failed', 'The body must be a raw RFC 5322 message.', { fix: 'POST the message bytes with Content-Type message/rfc822.' });
    }
    const q = request.query;
    const wanted = q.to ? [q.to.toLowerCase()] : headerRecipients(raw);
    const routes: MailboxRoute[] = [];
    for (const address of wanted) {
      const route = await routeRecipient(store.db, address);
      if (route && route.account.org_id === orgId && !routes.some((r) => r.account.identity_id === route.account.identity_id)) routes.push(route);
    }
    if (routes.length === 0) {
      throw new AppError('unknown_recipient', `No mailbox of this organization receives mail for ${wanted.join(', ') || 'this message'}.`, { param: q.to ? 'to' : undefined });
    }
    const arrival = { transport: 'http' as const, clientIp: q.client_ip ?? q.client_ip6 ?? null, helo: q.helo ?? null, mailFrom: q.mail_from ?? null };
    const outcomes = await receiveEmail(store, config, routes, raw, arrival, { resolver, serverName: config.serverName, clock, parse, metrics });
    if (outcomes.every((o) => o.status === 'rejected')) {
      throw new AppError('spoofed_sender', `Refused: ${(outcomes[0] as { reason: string }).reason}.`);
    }
    const results = outcomes.map((o) => ({
      mailbox_id: o.accountId, status: o.status, conversation_id: o.status === 'rejected' ? null : o.conversationId,
      message_id: o.status === 'stored' || o.status === 'bounce' ? o.messageId : null,
    }));
    return reply.status(results.some((r) => r.status === 'stored') ? 201 : 200).send({ results });
  });
}
