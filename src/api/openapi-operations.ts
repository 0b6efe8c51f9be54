/**
 * The name of every documented operation (`operationId`), kept in one table so that a
 * generated client (packages/sdk, any OpenAPI generator) gets stable, readable method
 * names (`listConversations`, not `getV1Conversations`) and a route file cannot forget
 * one. Applied to the document by {@link ./openapi-transform.ts}; test/api/openapi.test.ts
 * fails on a documented route missing from this table and on an entry no route matches.
 *
 * Keys are `METHOD /path` with OpenAPI path templates (`{id}`), as docs/api.md writes
 * them. An operationId, once published, is part of the SDK's contract: rename with care.
 */

/** What the table says of one operation. */
export interface OperationInfo {
  /** The camelCase `operationId`. */
  readonly id: string;
  /**
   * The media type of the success answer when it is not JSON (a raw message, an
   * attachment's bytes, a Server-Sent Events stream).
   */
  readonly produces?: string;
  /** The media type of the request body when the route does not say (a provider's form post). */
  readonly consumes?: string;
}

const op = (id: string, produces?: string): OperationInfo => (produces ? { id, produces } : { id });
const FORM = 'application/x-www-form-urlencoded';

/** Every documented operation, by `METHOD /path`. */
export const OPERATIONS: Readonly<Record<string, OperationInfo>> = {
  // Conversations
  'GET /v1/conversations': op('listConversations'),
  'GET /v1/conversations/overdue/count': op('countOverdueConversations'),
  'GET /v1/conversations/{id}': op('getConversation'),
  'PATCH /v1/conversations/{id}': op('updateConversation'),
  'GET /v1/conversations/{id}/events': op('listConversationEvents'),
  'GET /v1/conversations/{id}/messages': op('listConversationMessages'),
  'POST /v1/conversations/{id}/messages': op('replyToConversation'),
  'POST /v1/conversations/{id}/labels': op('addConversationLabels'),
  'DELETE /v1/conversations/{id}/labels': op('removeConversationLabels'),
  'POST /v1/conversations/{id}/archive': op('archiveConversation'),
  'POST /v1/conversations/{id}/merge': op('mergeConversation'),
  'POST /v1/conversations/{id}/typing': op('sendTyping'),
  'POST /v1/conversations/{id}/reactions': op('reactToMessage'),
  'POST /v1/conversations/{id}/read': op('markConversationRead'),
  'POST /v1/conversations/{id}/unread': op('markConversationUnread'),
  'PUT /v1/conversations/{id}/star': op('starConversation'),
  'DELETE /v1/conversations/{id}/star': op('unstarConversation'),
  'POST /v1/conversations/{id}/assign': op('assignConversation'),
  'POST /v1/conversations/{id}/notes': op('addConversationNote'),
  'POST /v1/conversations/{id}/calls': op('logConversationCall'),
  // Suggestions and training pairs
  'POST /v1/conversations/{id}/suggestions': op('createSuggestion'),
  'GET /v1/conversations/{id}/suggestions': op('listSuggestions'),
  'GET /v1/conversations/{id}/suggestions/{sid}': op('getSuggestion'),
  'POST /v1/conversations/{id}/suggestions/{sid}/send': op('sendSuggestion'),
  'POST /v1/conversations/{id}/suggestions/{sid}/dismiss': op('dismissSuggestion'),
  'GET /v1/training_pairs': op('listTrainingPairs'),
  // Messages, the outbound queue and media
  'POST /v1/messages': op('sendMessage'),
  'GET /v1/messages/{id}': op('getMessage'),
  'GET /v1/messages/{id}/raw': op('getRawMessage', 'message/rfc822'),
  'POST /v1/messages/{id}/retry': op('retryMessage'),
  'GET /v1/outbound': op('listOutbound'),
  'POST /v1/media': op('uploadMedia'),
  'GET /v1/media/{id}': op('downloadMedia', 'application/octet-stream'),
  'GET /media/{id}': op('downloadSignedMedia', 'application/octet-stream'),
  // The change feed
  'GET /v1/events': op('listEvents'),
  'GET /v1/events/stream': op('streamEvents', 'text/event-stream'),
  // Identities, mailboxes, channel accounts, connections
  'POST /v1/identities': op('createIdentity'),
  'GET /v1/identities': op('listIdentities'),
  'GET /v1/identities/{id}': op('getIdentity'),
  'PATCH /v1/identities/{id}': op('updateIdentity'),
  'DELETE /v1/identities/{id}': op('deleteIdentity'),
  'POST /v1/mailboxes': op('createMailbox'),
  'GET /v1/mailboxes': op('listMailboxes'),
  'GET /v1/mailboxes/{id}': op('getMailbox'),
  'PATCH /v1/mailboxes/{id}': op('updateMailbox'),
  'DELETE /v1/mailboxes/{id}': op('deleteMailbox'),
  'POST /v1/channel_accounts': op('createChannelAccount'),
  'GET /v1/channel_accounts': op('listChannelAccounts'),
  'GET /v1/channel_accounts/{id}': op('getChannelAccount'),
  'PATCH /v1/channel_accounts/{id}': op('updateChannelAccount'),
  'GET /v1/connections': op('listConnections'),
  'GET /v1/connections/{id}': op('getConnection'),
  'POST /v1/connections/{id}/release': op('releaseConnection'),
  // Members and API keys
  'POST /v1/members': op('createMember'),
  'GET /v1/members': op('listMembers'),
  'GET /v1/members/{id}': op('getMember'),
  'PATCH /v1/members/{id}': op('updateMember'),
  'DELETE /v1/members/{id}': op('deleteMember'),
  'DELETE /v1/members/{id}/sessions': op('revokeMemberSessions'),
  'POST /v1/api_keys': op('createApiKey'),
  'GET /v1/api_keys': op('listApiKeys'),
  'DELETE /v1/api_keys/{id}': op('revokeApiKey'),
  // People's sign-in (the web inbox)
  'POST /v1/auth/sessions': op('createSession'),
  'GET /v1/auth/session': op('getSession'),
  'DELETE /v1/auth/session': op('deleteSession'),
  'POST /v1/auth/login_links': op('sendLoginLink'),
  // Contacts and contact rules
  'POST /v1/contacts': op('createContact'),
  'GET /v1/contacts': op('listContacts'),
  'GET /v1/contacts/{id}': op('getContact'),
  'PATCH /v1/contacts/{id}': op('updateContact'),
  'DELETE /v1/contacts/{id}': op('deleteContact'),
  'POST /v1/contacts/{id}/conversations': op('openContactConversation'),
  'POST /v1/contact_rules': op('createContactRule'),
  'GET /v1/contact_rules': op('listContactRules'),
  'GET /v1/contact_rules/{id}': op('getContactRule'),
  'DELETE /v1/contact_rules/{id}': op('deleteContactRule'),
  // Inbox: views and SLA
  'GET /v1/views': op('listViews'),
  'POST /v1/views': op('createView'),
  'GET /v1/views/counts': op('getViewCounts'),
  'GET /v1/views/{id}': op('getView'),
  'PUT /v1/views/{id}': op('replaceView'),
  'PATCH /v1/views/{id}': op('updateView'),
  'DELETE /v1/views/{id}': op('deleteView'),
  'GET /v1/sla': op('getSlaPolicy'),
  'PUT /v1/sla': op('replaceSlaPolicy'),
  // Webhooks
  'POST /v1/webhook_endpoints': op('createWebhookEndpoint'),
  'GET /v1/webhook_endpoints': op('listWebhookEndpoints'),
  'GET /v1/webhook_endpoints/{id}': op('getWebhookEndpoint'),
  'PATCH /v1/webhook_endpoints/{id}': op('updateWebhookEndpoint'),
  'DELETE /v1/webhook_endpoints/{id}': op('deleteWebhookEndpoint'),
  'GET /v1/webhook_endpoints/{id}/deliveries': op('listWebhookDeliveries'),
  'POST /v1/webhook_endpoints/{id}/deliveries/{did}/replay': op('replayWebhookDelivery'),
  // Inbound: raw mail and provider webhooks
  'POST /v1/inbound/email': op('uploadInboundEmail'),
  'POST /v1/inbound/bluebubbles/{account_id}': op('receiveBlueBubblesWebhook'),
  'POST /v1/inbound/http/{account_id}': op('receiveHttpChannelMessage'),
  'POST /v1/inbound/twilio/{account_id}/messages': { id: 'receiveTwilioMessage', consumes: FORM },
  'POST /v1/inbound/twilio/{account_id}/status': { id: 'receiveTwilioStatus', consumes: FORM },
};

/** The tags of the document, in the order a reader meets them, each with what it groups. */
export const OPENAPI_TAGS: readonly { readonly name: string; readonly description: string }[] = [
  { name: 'conversations', description: 'Conversations: list, snapshot with timeline, pages of events and messages, labels, archive, merge.' },
  { name: 'messages', description: 'Sending (first send, reply by conversation id), messages, the outbound email queue and media.' },
  { name: 'inbox', description: 'Inbox work: read and unread, stars, assignment, notes and logged calls.' },
  { name: 'suggestions', description: 'AI-drafted replies awaiting a human, and the training pairs they leave.' },
  { name: 'events', description: 'The change feed in commit order, polled or streamed as Server-Sent Events.' },
  { name: 'views', description: 'Saved views over conversations and their unread/total counts.' },
  { name: 'sla', description: 'First- and next-response targets, and what is overdue.' },
  { name: 'identities', description: 'Identities: the agents and team inboxes that own channel accounts.' },
  { name: 'mailboxes', description: 'Email addresses of an identity, with their SMTP relay.' },
  { name: 'channel accounts', description: 'SMS, iMessage, LinkedIn and HTTP accounts of an identity, with their health.' },
  { name: 'connections', description: 'Router connections on shared lines (one person to one identity).' },
  { name: 'contacts', description: 'External people: profiles, addresses per channel, attributes.' },
  { name: 'contact rules', description: 'Block and allow rules by address, domain or number pattern.' },
  { name: 'members', description: 'Staff of the organization: assignment targets.' },
  { name: 'sessions', description: 'People signing in to the web inbox: one-time sign-in links and session cookies with a CSRF token.' },
  { name: 'api keys', description: 'API keys: org-wide or scoped to an identity, with permissions.' },
  { name: 'webhooks', description: 'Webhook endpoints (signed per Standard Webhooks) and their delivery log.' },
  { name: 'inbound', description: 'Mail and provider webhooks coming in (raw RFC 5322, Twilio, BlueBubbles, the HTTP channel).' },
];

/**
 * The table's key of a route: `METHOD /path`, with Fastify's `:param` written as an
 * OpenAPI template (`{param}`).
 *
 * @param method an HTTP method, any case.
 * @param url a route URL as registered (`/v1/conversations/:id`) or as documented.
 */
export function operationKey(method: string, url: string): string {
  return `${method.toUpperCase()} ${url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
}
