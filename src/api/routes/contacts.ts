/**
 * Contacts: CRUD with profile enrichment, and opening a conversation with a contact
 * (SPEC section 6). Contacts are org-wide: identity-scoped keys read them too.
 */
import Type, { type Static } from 'typebox';
import { AppError, notFound } from '../../errors.js';
import { anyChannelAddress } from '../../domain/addresses.js';
import { isId } from '../../ids.js';
import { openContactConversation } from '../../services/contact-conversations.js';
import { createContact, deleteContact, getContact, updateContact, type ContactInput } from '../../services/contacts.js';
import { addressesOf, listContacts } from '../../store/contacts.js';
import { principalOf } from '../auth.js';
import { decodeCursor, DEFAULT_LIMIT, page } from '../pagination.js';
import { contactView, conversationView } from '../presenters.js';
import { identityScope } from '../scope.js';
import { AttributeValue, Contact, Conversation, IdParams, Page, PageQuery, Problem } from '../schemas.js';
import { bodylessAsEmpty } from '../validation.js';
import type { Api, ApiContext } from '../app.js';

/** Most custom attributes on one contact. */
export const MAX_ATTRIBUTES = 50;

const Text = (maxLength: number) => Type.Union([Type.String({ maxLength }), Type.Null()]);
const AddressInput = Type.Object({
  channel: Type.Optional(Type.Union([
    Type.Literal('email'), Type.Literal('sms'), Type.Literal('imessage'), Type.Literal('linkedin'), Type.Literal('http'),
  ], { default: 'email', description: 'the channel the address is on (default `email`)' })),
  address: Type.String({
    minLength: 1, maxLength: 320,
    description: 'email: an email address (lower-cased); sms: a phone number with its country code (stored in E.164); imessage: a phone number or an email address; linkedin, http: the provider\'s id of the person (a LinkedIn profile id or URN, kept as written)',
  }),
}, { additionalProperties: false });

const ContactFields = {
  display_name: Type.Optional(Text(200)),
  company: Type.Optional(Text(200)),
  position: Type.Optional(Text(200)),
  headline: Type.Optional(Text(500)),
  avatar_url: Type.Optional(Type.Union([
    Type.String({ format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://', maxLength: 2048, description: 'http or https URL' }),
    Type.Null(),
  ])),
  attributes: Type.Optional(Type.Record(Type.String(), AttributeValue, {
    maxProperties: MAX_ATTRIBUTES, propertyNames: { minLength: 1, maxLength: 64 },
    description: `custom attributes: string (at most 1000 characters), number, boolean or null values; at most ${MAX_ATTRIBUTES} keys of 1 to 64 characters. On PATCH the object replaces the current one.`,
  })),
  addresses: Type.Optional(Type.Array(AddressInput, {
    maxItems: 50, description: 'the full address set (on PATCH it replaces the current one); an address belongs to one contact',
  })),
};
const ContactCreate = Type.Object(ContactFields, { additionalProperties: false });
const ContactPatch = Type.Object(ContactFields, { additionalProperties: false });

const ListQuery = Type.Object({
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'text in the display name, company or an address (case-insensitive)' })),
  email: Type.Optional(Type.String({ maxLength: 320, description: 'exact email address' })),
  address: Type.Optional(Type.String({ minLength: 1, maxLength: 320, description: 'an exact address on any channel: an email address, a phone number (matched in E.164), or a provider id' })),
  ...PageQuery,
});

const OpenBody = Type.Object({
  identity_id: Type.Optional(Type.String({ maxLength: 100, description: 'required unless the key is scoped to an identity' })),
  channel: Type.Optional(Type.Union([
    Type.Literal('email'), Type.Literal('sms'), Type.Literal('imessage'), Type.Literal('linkedin'), Type.Literal('http'),
  ], { description: 'the channel to open the conversation on; by default the first (email, sms, imessage, linkedin, http) on which the contact has an address (the `address`, when given)' })),
  address: Type.Optional(Type.String({ maxLength: 320, description: 'one of the contact\'s addresses; by default its first on the channel (alphabetically)' })),
  subject: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 998 }), Type.Null()], { description: 'subject of the first message (email only)' })),
}, { additionalProperties: false });

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem };

const input = (b: Static<typeof ContactCreate>): ContactInput => ({
  ...b,
  addresses: b.addresses?.map((a) => ({ channel: a.channel ?? 'email', address: a.address })),
});

export function contactRoutes(app: Api, { store, clock }: ApiContext): void {
  const contactId = (id: string) => {
    if (!isId('ct', id)) throw notFound('contact');
    return id;
  };

  app.post('/v1/contacts', {
    config: { idempotent: true, permission: 'contacts:write' },
    schema: { tags: ['contacts'], summary: 'Create a contact', body: ContactCreate, response: { 201: Contact, ...errors, 409: Problem } },
  }, async (request, reply) => {
    const record = await createContact(store, principalOf(request).orgId, input(request.body ?? {}));
    return reply.status(201).send(contactView(record));
  });

  app.get('/v1/contacts', {
    config: { permission: 'contacts:read' },
    schema: { tags: ['contacts'], summary: 'List contacts, oldest first', querystring: ListQuery, response: { 200: Page(Contact), ...errors } },
  }, async (request) => {
    const { orgId } = principalOf(request);
    const { limit = DEFAULT_LIMIT, cursor, q, email, address } = request.query;
    const after = cursor ? decodeCursor(cursor, { id: 'string' }).id : undefined;
    const exact = email !== undefined ? email.trim().toLowerCase() : address !== undefined ? anyChannelAddress(address) : undefined;
    if (email !== undefined && address !== undefined && anyChannelAddress(address) !== exact) return { data: [], next_cursor: null, has_more: false };
    const rows = await listContacts(store.db, orgId, { q, address: exact, limit, afterId: after });
    const addresses = await addressesOf(store.db, orgId, rows.slice(0, limit).map((r) => r.id));
    return page(rows, limit, (row) => contactView({ row, addresses: addresses.get(row.id) ?? [] }), (r) => ({ id: r.id }));
  });

  app.get('/v1/contacts/:id', {
    config: { permission: 'contacts:read' },
    schema: { tags: ['contacts'], summary: 'One contact', params: IdParams, response: { 200: Contact, ...errors } },
  }, async (request) => contactView(await getContact(store.db, principalOf(request).orgId, contactId(request.params.id))));

  app.patch('/v1/contacts/:id', {
    config: { permission: 'contacts:write' },
    schema: { tags: ['contacts'], summary: 'Change a contact\'s profile or addresses', params: IdParams, body: ContactPatch, response: { 200: Contact, ...errors, 409: Problem } },
  }, async (request) => {
    const id = contactId(request.params.id);
    const body = request.body ?? {};
    if (Object.values(body).every((v) => v === undefined)) {
      throw new AppError('no_valid_fields', `The body changes nothing: send one of ${Object.keys(ContactFields).map((k) => `\`${k}\``).join(', ')}.`);
    }
    return contactView(await updateContact(store, principalOf(request).orgId, id, input(body)));
  });

  app.delete('/v1/contacts/:id', {
    config: { permission: 'contacts:write' },
    schema: { tags: ['contacts'], summary: 'Delete a contact (its conversations stay)', params: IdParams, response: { 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    await deleteContact(store, principalOf(request).orgId, contactId(request.params.id));
    return reply.status(204).send(null);
  });

  app.post('/v1/contacts/:id/conversations', {
    config: { idempotent: true, permission: 'conversations:write' },
    schema: {
      tags: ['contacts'],
      summary: 'Open a conversation with a contact on any channel: the identity\'s open one with that address (200), or a new one without events (201)',
      params: IdParams, body: OpenBody,
      response: { 200: Conversation, 201: Conversation, ...errors, 422: Problem },
    },
    // A bodyless POST means `{}` (the scoped key's own identity).
    preValidation: bodylessAsEmpty,
  }, async (request, reply) => {
    const principal = principalOf(request);
    const id = contactId(request.params.id);
    const identityId = identityScope(principal, request.body.identity_id);
    if (identityId === undefined) {
      throw new AppError('validation_failed', 'identity_id is required: name the identity the conversation belongs to.', { param: 'identity_id' });
    }
    if (!isId('idn', identityId)) throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
    const { row, created } = await openContactConversation(store, principal.orgId, {
      contactId: id, identityId, channel: request.body.channel, address: request.body.address, subject: request.body.subject,
    }, clock);
    return reply.status(created ? 201 : 200).send(conversationView(row));
  });
}
