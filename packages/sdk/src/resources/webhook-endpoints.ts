/** Webhook endpoints and their delivery log (`sb.webhookEndpoints`). Verify deliveries with `verifyWebhook`. */
import { keysetPaginator, type Paginator } from '../pagination.js';
import type { BodyOf, Page, QueryOf, RequestOptions, ResultOf, WebhookDelivery, WebhookEndpoint } from '../types.js';
import { Resource } from './resource.js';

export class WebhookEndpoints extends Resource {
  /** Registers an endpoint; its signing `secret` is in this answer only. */
  create(body: BodyOf<'createWebhookEndpoint'>, options?: RequestOptions): Promise<ResultOf<'createWebhookEndpoint'>> {
    return this.write((init) => this.api.POST('/v1/webhook_endpoints', { body, ...init }), options);
  }

  list(params: QueryOf<'listWebhookEndpoints'> = {}, options?: RequestOptions): Paginator<WebhookEndpoint, Page<WebhookEndpoint>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/webhook_endpoints', { params: { query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  get(id: string, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.read((init) => this.api.GET('/v1/webhook_endpoints/{id}', { params: { path: { id } }, ...init }), options);
  }

  /** Changes an endpoint (`enabled: true` enables it again after it was disabled). */
  update(id: string, body: BodyOf<'updateWebhookEndpoint'>, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.write((init) => this.api.PATCH('/v1/webhook_endpoints/{id}', { params: { path: { id } }, body, ...init }), options);
  }

  async delete(id: string, options?: RequestOptions): Promise<void> {
    await this.write((init) => this.api.DELETE('/v1/webhook_endpoints/{id}', { params: { path: { id } }, ...init }), options);
  }

  /** The delivery log: attempts, status codes, next attempt (newest first). */
  deliveries(id: string, params: QueryOf<'listWebhookDeliveries'> = {}, options?: RequestOptions): Paginator<WebhookDelivery, Page<WebhookDelivery>> {
    const { cursor, ...query } = params;
    return keysetPaginator((at) => this.read((init) => this.api.GET('/v1/webhook_endpoints/{id}/deliveries', { params: { path: { id }, query: { ...query, cursor: at } }, ...init }), options), cursor);
  }

  /** Sends a delivery again now (same `webhook-id`). */
  replay(id: string, deliveryId: string, options?: RequestOptions): Promise<WebhookDelivery> {
    return this.write((init) => this.api.POST('/v1/webhook_endpoints/{id}/deliveries/{did}/replay', { params: { path: { id, did: deliveryId } }, ...init }), options);
  }
}
