/** Contacts (`sb.contacts`) and contact rules (`sb.contactRules`). */
import { keysetPaginator, type Paginator } from '../pagination.js';
import type { BodyOf, Contact, ContactRule, Conversation, Page, QueryOf, RequestOptions } from '../types.js';
import { Resource } from './resource.js';

export class Contacts extends Resource {
  create(body: BodyOf<'createContact'>, options?: RequestOptions): Promise<Contact> {
    return this.write((init) => this.api.POST('/v1/contacts', { body, ...init }), options);
  }

  /** Contacts, oldest first (`q`, `email`, `address` to search). */
  list(params: QueryOf<'listContacts'> = {}, options?: RequestOptions): Paginator<Contact, Page<Contact>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/contacts', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  get(id: string, options?: RequestOptions): Promise<Contact> {
    return this.read((init) => this.api.GET('/v1/contacts/{id}', { params: { path: { id } }, ...init }), options);
  }

  update(id: string, body: BodyOf<'updateContact'>, options?: RequestOptions): Promise<Contact> {
    return this.write((init) => this.api.PATCH('/v1/contacts/{id}', { params: { path: { id } }, body, ...init }), options);
  }

  /** Deletes a contact (its conversations stay). */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.write((init) => this.api.DELETE('/v1/contacts/{id}', { params: { path: { id } }, ...init }), options);
  }

  /**
   * Opens a conversation with a contact on a channel: the identity's open one with that
   * address, or a new one without events.
   *
   * @throws UnprocessableEntityError `no_recipient`, `no_sender`.
   */
  openConversation(id: string, body: BodyOf<'openContactConversation'>, options?: RequestOptions): Promise<Conversation> {
    return this.write((init) => this.api.POST('/v1/contacts/{id}/conversations', { params: { path: { id } }, body, ...init }), options);
  }
}

export class ContactRules extends Resource {
  /** Creates a block or allow rule (an identical existing rule is returned). */
  create(body: BodyOf<'createContactRule'>, options?: RequestOptions): Promise<ContactRule> {
    return this.write((init) => this.api.POST('/v1/contact_rules', { body, ...init }), options);
  }

  list(params: QueryOf<'listContactRules'> = {}, options?: RequestOptions): Paginator<ContactRule, Page<ContactRule>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/contact_rules', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  get(id: string, options?: RequestOptions): Promise<ContactRule> {
    return this.read((init) => this.api.GET('/v1/contact_rules/{id}', { params: { path: { id } }, ...init }), options);
  }

  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.write((init) => this.api.DELETE('/v1/contact_rules/{id}', { params: { path: { id } }, ...init }), options);
  }
}
