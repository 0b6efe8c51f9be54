/**
 * Identities (`sb.identities`), their mailboxes (`sb.mailboxes`) and other channel
 * accounts (`sb.channelAccounts`), and router connections (`sb.connections`).
 */
import { keysetPaginator, type Paginator } from '../pagination.js';
import type { BodyOf, ChannelAccount, Connection, Identity, Mailbox, Page, QueryOf, RequestOptions } from '../types.js';
import { Resource } from './resource.js';

export class Identities extends Resource {
  /** Creates an identity. @throws ConflictError `handle_in_use`, `routing_code_in_use` */
  create(body: BodyOf<'createIdentity'>, options?: RequestOptions): Promise<Identity> {
    return this.write((init) => this.api.POST('/v1/identities', { body, ...init }), options);
  }

  list(params: QueryOf<'listIdentities'> = {}, options?: RequestOptions): Paginator<Identity, Page<Identity>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/identities', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  get(id: string, options?: RequestOptions): Promise<Identity> {
    return this.read((init) => this.api.GET('/v1/identities/{id}', { params: { path: { id } }, ...init }), options);
  }

  update(id: string, body: BodyOf<'updateIdentity'>, options?: RequestOptions): Promise<Identity> {
    return this.write((init) => this.api.PATCH('/v1/identities/{id}', { params: { path: { id } }, body, ...init }), options);
  }

  /** Deletes an identity with its mailboxes and conversations. */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.write((init) => this.api.DELETE('/v1/identities/{id}', { params: { path: { id } }, ...init }), options);
  }
}

export class Mailboxes extends Resource {
  /** Adds an email address to an identity. @throws ConflictError `address_in_use` */
  create(body: BodyOf<'createMailbox'>, options?: RequestOptions): Promise<Mailbox> {
    return this.write((init) => this.api.POST('/v1/mailboxes', { body, ...init }), options);
  }

  list(params: QueryOf<'listMailboxes'> = {}, options?: RequestOptions): Paginator<Mailbox, Page<Mailbox>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/mailboxes', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  get(id: string, options?: RequestOptions): Promise<Mailbox> {
    return this.read((init) => this.api.GET('/v1/mailboxes/{id}', { params: { path: { id } }, ...init }), options);
  }

  update(id: string, body: BodyOf<'updateMailbox'>, options?: RequestOptions): Promise<Mailbox> {
    return this.write((init) => this.api.PATCH('/v1/mailboxes/{id}', { params: { path: { id } }, body, ...init }), options);
  }

  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.write((init) => this.api.DELETE('/v1/mailboxes/{id}', { params: { path: { id } }, ...init }), options);
  }
}

export class ChannelAccounts extends Resource {
  /** Adds an SMS, iMessage, LinkedIn or HTTP account to an identity. */
  create(body: BodyOf<'createChannelAccount'>, options?: RequestOptions): Promise<ChannelAccount> {
    return this.write((init) => this.api.POST('/v1/channel_accounts', { body, ...init }), options);
  }

  list(params: QueryOf<'listChannelAccounts'> = {}, options?: RequestOptions): Paginator<ChannelAccount, Page<ChannelAccount>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/channel_accounts', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  /** One account, with its health (`status`, `status_reason`). */
  get(id: string, options?: RequestOptions): Promise<ChannelAccount> {
    return this.read((init) => this.api.GET('/v1/channel_accounts/{id}', { params: { path: { id } }, ...init }), options);
  }

  update(id: string, body: BodyOf<'updateChannelAccount'>, options?: RequestOptions): Promise<ChannelAccount> {
    return this.write((init) => this.api.PATCH('/v1/channel_accounts/{id}', { params: { path: { id } }, body, ...init }), options);
  }
}

export class Connections extends Resource {
  /** Router connections on shared lines, newest first. */
  list(params: QueryOf<'listConnections'> = {}, options?: RequestOptions): Paginator<Connection, Page<Connection>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/connections', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  get(id: string, options?: RequestOptions): Promise<Connection> {
    return this.read((init) => this.api.GET('/v1/connections/{id}', { params: { path: { id } }, ...init }), options);
  }

  /** Releases an active connection (the person reconnects by texting the routing code). */
  release(id: string, body: BodyOf<'releaseConnection'> = {}, options?: RequestOptions): Promise<Connection> {
    return this.write((init) => this.api.POST('/v1/connections/{id}/release', { params: { path: { id } }, body, ...init }), options);
  }
}
