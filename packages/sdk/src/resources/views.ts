/** Saved views and their counts (`sb.views`), and the SLA policy (`sb.sla`). */
import type { BodyOf, QueryOf, RequestOptions, ResultOf, View } from '../types.js';
import { Resource } from './resource.js';

export class Views extends Resource {
  /** Every view: the built-in ones first, then saved ones (at most 100; not paged). */
  list(options?: RequestOptions): Promise<View[]> {
    return this.read((init) => this.api.GET('/v1/views', { ...init }), options).then((r) => r.data);
  }

  /** Saves a view. @throws ConflictError `view_limit_reached` */
  create(body: BodyOf<'createView'>, options?: RequestOptions): Promise<View> {
    return this.write((init) => this.api.POST('/v1/views', { body, ...init }), options);
  }

  get(id: string, options?: RequestOptions): Promise<View> {
    return this.read((init) => this.api.GET('/v1/views/{id}', { params: { path: { id } }, ...init }), options);
  }

  /** Replaces a saved view's name and filter. @throws ConflictError `view_builtin` */
  replace(id: string, body: BodyOf<'replaceView'>, options?: RequestOptions): Promise<View> {
    return this.write((init) => this.api.PUT('/v1/views/{id}', { params: { path: { id } }, body, ...init }), options);
  }

  /** Renames a saved view or replaces its filter. @throws ConflictError `view_builtin` */
  update(id: string, body: BodyOf<'updateView'>, options?: RequestOptions): Promise<View> {
    return this.write((init) => this.api.PATCH('/v1/views/{id}', { params: { path: { id } }, body, ...init }), options);
  }

  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.write((init) => this.api.DELETE('/v1/views/{id}', { params: { path: { id } }, ...init }), options);
  }

  /** Unread and total conversations of every view (exact). */
  counts(params: QueryOf<'getViewCounts'> = {}, options?: RequestOptions): Promise<ResultOf<'getViewCounts'>['data']> {
    return this.read((init) => this.api.GET('/v1/views/counts', { params: { query: params }, ...init }), options).then((r) => r.data);
  }
}

export class Sla extends Resource {
  get(options?: RequestOptions): Promise<ResultOf<'getSlaPolicy'>> {
    return this.read((init) => this.api.GET('/v1/sla', { ...init }), options);
  }

  /** Replaces the policy (first- and next-response targets, ms). */
  replace(body: BodyOf<'replaceSlaPolicy'>, options?: RequestOptions): Promise<ResultOf<'replaceSlaPolicy'>> {
    return this.write((init) => this.api.PUT('/v1/sla', { body, ...init }), options);
  }
}
