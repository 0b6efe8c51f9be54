/** Members (`sb.members`) and API keys (`sb.apiKeys`). */
import { keysetPaginator, type Paginator } from '../pagination.js';
import type { ApiKey, BodyOf, Member, Page, QueryOf, RequestOptions, ResultOf } from '../types.js';
import { Resource } from './resource.js';

export class Members extends Resource {
  /** Adds a member. @throws ConflictError `email_in_use` */
  create(body: BodyOf<'createMember'>, options?: RequestOptions): Promise<Member> {
    return this.write((init) => this.api.POST('/v1/members', { body, ...init }), options);
  }

  list(params: QueryOf<'listMembers'> = {}, options?: RequestOptions): Paginator<Member, Page<Member>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/members', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  get(id: string, options?: RequestOptions): Promise<Member> {
    return this.read((init) => this.api.GET('/v1/members/{id}', { params: { path: { id } }, ...init }), options);
  }

  /** Changes a member's email, name or role. @throws ConflictError `last_owner` */
  update(id: string, body: BodyOf<'updateMember'>, options?: RequestOptions): Promise<Member> {
    return this.write((init) => this.api.PATCH('/v1/members/{id}', { params: { path: { id } }, body, ...init }), options);
  }

  /** Removes a member: their keys are revoked, their conversations unassigned. */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.write((init) => this.api.DELETE('/v1/members/{id}', { params: { path: { id } }, ...init }), options);
  }
}

export class ApiKeys extends Resource {
  /** Creates a key; its secret (`key`) is in this answer only. */
  create(body: BodyOf<'createApiKey'>, options?: RequestOptions): Promise<ResultOf<'createApiKey'>> {
    return this.write((init) => this.api.POST('/v1/api_keys', { body, ...init }), options);
  }

  /** Keys (never their secrets). */
  list(params: QueryOf<'listApiKeys'> = {}, options?: RequestOptions): Paginator<ApiKey, Page<ApiKey>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/api_keys', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  /** Revokes a key: refused from the next request on. */
  revoke(id: string, options?: RequestOptions): Promise<ApiKey> {
    return this.write((init) => this.api.DELETE('/v1/api_keys/{id}', { params: { path: { id } }, ...init }), options);
  }
}
