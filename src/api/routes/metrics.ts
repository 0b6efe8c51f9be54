/**
 * `GET /metrics`: the Prometheus text exposition of this node's metrics
 * (observability/metrics.ts), outside `/v1` and its API keys. With `METRICS_TOKEN` set it
 * needs `Authorization: Bearer <token>`; without, it is open to whoever reaches the port,
 * so operators firewall it (docs/deployment.md, "Metrics"). Also the hook that counts
 * every HTTP request by route pattern.
 */
import crypto from 'node:crypto';
import { AppError, toProblem } from '../../errors.js';
import { UNMATCHED_ROUTE, statusClass, type Metrics } from '../../observability/metrics.js';
import { queueDepth } from '../../services/outbound-queue.js';
import type { Api, ApiContext } from '../app.js';

/**
 * Counts every answered request (`switchboard_http_requests_total`) and its latency
 * (`switchboard_http_request_duration_seconds`), labelled by the route's pattern
 * (`/v1/conversations/:id`, never the URL: the label keeps a bounded set of values) or
 * `unmatched`. A live stream leaves the request path once it starts streaming, so only
 * the streams refused before that count here (open streams: `switchboard_stream_subscribers`).
 */
export function installRequestMetrics(app: Api, metrics: Metrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const { method } = request;
    const code = reply.statusCode;
    metrics.httpRequests.inc({ route, method, status_code: code });
    metrics.httpRequestDuration.observe({ route, method, status_class: statusClass(code) }, reply.elapsedTime / 1000);
    done();
  });
}

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest();

/** Whether an Authorization header carries `token` as its bearer token; constant time (both sides hashed first). */
function bearerMatches(header: string | undefined, token: Buffer): boolean {
  const given = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return given !== undefined && crypto.timingSafeEqual(sha256(given), token);
}

/** Registers `GET /metrics` (hidden from the OpenAPI document, as `/healthz` is). */
export function metricsRoutes(app: Api, { store, config, metrics }: ApiContext): void {
  metrics.setQueueDepthSource(() => queueDepth(store.db));
  const token = config.metricsToken === null ? null : sha256(config.metricsToken);
  // Answered under load too (no 503 from under-pressure), so the scrape shows why a node sheds.
  app.get('/metrics', { schema: { hide: true }, config: { pressureHandler: () => undefined } }, async (request, reply) => {
    if (token && !bearerMatches(request.headers.authorization, token)) {
      const refused = new AppError('unauthenticated', 'GET /metrics needs this server\'s METRICS_TOKEN as a bearer token.', {
        fix: 'Send `Authorization: Bearer <METRICS_TOKEN>` (Prometheus: `authorization: { credentials: ... }` in the scrape config).',
      });
      // RFC 6750 section 3, for the metrics token (not an API key, as api/problem.ts's challenge says).
      const sentToken = /^Bearer\s+\S/i.test(request.headers.authorization ?? '');
      return reply.status(401).type('application/problem+json')
        .header('www-authenticate', `Bearer realm="metrics"${sentToken ? ', error="invalid_token"' : ''}`).send(toProblem(refused));
    }
    return reply.type(metrics.contentType).send(await metrics.scrape());
  });
}
