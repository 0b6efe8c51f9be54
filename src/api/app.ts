/**
 * The HTTP API: a Fastify app with TypeBox schemas (validation, serialization and the
 * OpenAPI document from one source), bearer auth, idempotency and problem details.
 */
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import underPressure from '@fastify/under-pressure';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import Type from 'typebox';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { Authenticator } from '../services/authentication.js';
import { OrgVersions } from '../store/org-versions.js';
import type { Store } from '../store/store.js';
import { installAuth } from './auth.js';
import { authenticateSession } from '../services/sessions.js';
import { sessionRoutes } from './routes/sessions.js';
import { DEFAULT_WEB_DIR, installWebApp } from './web-app.js';
import { benchConstantRoute } from './routes/bench-constant.js';
import { installIdempotency } from './idempotency.js';
import { installSendLimit, RateLimits } from './rate-limit.js';
import { buildSerializer } from './serializer.js';
import { installProblemHandlers, sendProblem, toAppError } from './problem.js';
import { channelAccountRoutes } from './routes/channel-accounts.js';
import { connectionRoutes } from './routes/connections.js';
import { contactRuleRoutes } from './routes/contact-rules.js';
import { contactRoutes } from './routes/contacts.js';
import { conversationRoutes } from './routes/conversations.js';
import { eventStreamRoutes } from './routes/event-stream.js';
import { eventRoutes } from './routes/events.js';
import { identityRoutes } from './routes/identities.js';
import { inboundRoutes, RAW_MAIL_TYPES } from './routes/inbound.js';
import { inboxRoutes } from './routes/inbox.js';
import { memberRoutes } from './routes/members.js';
import { mcpRoutes } from './routes/mcp.js';
import { messageRoutes } from './routes/messages.js';
import { slaRoutes } from './routes/sla.js';
import { suggestionRoutes } from './routes/suggestions.js';
import { trainingPairRoutes } from './routes/training-pairs.js';
import { viewRoutes } from './routes/views.js';
import { webhookRoutes } from './routes/webhooks.js';
import { defaultAdapters } from '../channels/index.js';
import { blueBubblesRoutes } from '../channels/bluebubbles/webhook-route.js';
import { httpChannelRoutes } from '../channels/http/routes.js';
import { systemResolver, type DnsResolver } from '../email/authentication.js';
import type { MessageParser } from '../services/receive-email.js';
import { withMediaUrlSecret } from '../media/signed-url.js';
import { DiskMediaStorage, type MediaStorage } from '../media/storage.js';
import { mediaRoutes } from './routes/media.js';
import { outboundRoutes } from './routes/outbound.js';
import { twilioRoutes } from '../channels/twilio/routes.js';
import type { ChannelAdapters } from '../services/send-channel.js';
import { ReadCache } from './read-cache.js';
import { Metrics } from '../observability/metrics.js';
import { installRequestMetrics, metricsRoutes } from './routes/metrics.js';
import { Problem } from './schemas.js';
import { acceptEmptyJson, installNulGuard, schemaErrorFormatter, validatorCompiler } from './validation.js';
import { recordRoutes } from './allowed-methods.js';
import { installStrictInput } from './strict-input.js';
import { OPENAPI_TAGS } from './openapi-operations.js';
import { openApiTransform } from './openapi-transform.js';

/** The app type routes register on (TypeBox-typed requests). */
export type Api = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface ApiContext {
  readonly store: Store;
  readonly config: Config;
  /** Whether every listener of the process accepts connections (`GET /readyz`). */
  readonly isReady: () => boolean;
  /** The time source of sends and timers. */
  readonly clock: Clock;
  /** The TCP ports this server listens on (webhook URLs reaching them are refused). */
  readonly listenerPorts: () => readonly number[];
  /** List pages and view counts, current by the org's state version. */
  readonly readCache: ReadCache;
  /** The adapter of each non-email channel (channels/index.ts). */
  readonly channels: ChannelAdapters;
  /** Where uploaded media bytes are kept (`<dataDir>/media` by default). */
  readonly media: MediaStorage;
  /** DNS of inbound mail authentication (SPF, DKIM, DMARC). */
  readonly resolver: DnsResolver;
  /** Parses inbound mail (off the event loop on a server); in process when unset. */
  readonly parse?: MessageParser;
  /** This server's Prometheus metrics (`GET /metrics`), counted by routes and services. */
  readonly metrics: Metrics;
  /** The rate limits (api/rate-limit.ts), for routes that count failures themselves (signing in). */
  readonly rateLimits: RateLimits;
}

export interface BuildAppOptions extends Omit<ApiContext, 'clock' | 'listenerPorts' | 'readCache' | 'channels' | 'media' | 'resolver' | 'metrics' | 'rateLimits'> {
  /** Defaults to a new {@link Metrics} (the server passes its own, shared with the SMTP listener and workers). */
  readonly metrics?: Metrics;
  /** Defaults to the system's DNS ({@link systemResolver}). */
  readonly resolver?: DnsResolver;
  /** Defaults to {@link DiskMediaStorage} under `<dataDir>/media`. */
  readonly media?: MediaStorage;
  /** Defaults to the configured adapters (channels/index.ts `defaultAdapters`). */
  readonly channels?: ChannelAdapters;
  readonly logger?: FastifyBaseLogger | boolean;
  /** Defaults to the system clock. */
  readonly clock?: Clock;
  /** Defaults to the configured ports and the HTTP listener's bound port. */
  readonly listenerPorts?: () => readonly number[];
}

/**
 * Builds the app (not listening). Tests call `app.inject()` on it.
 */
export async function buildApp(options: BuildAppOptions): Promise<Api> {
  const { store } = options;
  // The media URL secret, generated and kept in the data directory when not configured.
  const config = await withMediaUrlSecret(options.config);
  const app = Fastify({
    loggerInstance: typeof options.logger === 'object' ? options.logger : undefined,
    logger: typeof options.logger === 'boolean' ? options.logger : undefined,
    bodyLimit: config.maxJsonBytes,
    return503OnClosing: true,
    // The client's address (rate limits, logs) from X-Forwarded-For when set: TRUST_PROXY.
    trustProxy: config.trustProxy ?? false,
    ...httpTimeouts(config),
    schemaErrorFormatter,
    // Response schemas serialized without validating their anyOf branches (serializer.ts).
    schemaController: { compilersFactory: { buildSerializer } },
    // Router-level rejections (bad URL encoding, over-long path parameters) as problems too.
    frameworkErrors: (err, _request, reply) => sendProblem(reply, toAppError(err)),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());
  acceptEmptyJson(app);
  // Before any route (the docs' too): the methods of each path, for 405 and Allow.
  const routes = recordRoutes(app);
  installStrictInput(app);
  // Before any route too, so that every request is counted (the docs' included).
  const metrics = options.metrics ?? new Metrics();
  installRequestMetrics(app, metrics);

  app.addContentTypeParser(RAW_MAIL_TYPES, { parseAs: 'buffer', bodyLimit: config.maxMessageBytes }, (_req, body, done) => done(null, body));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard API', version: '0.1.0', description: 'Conversations engine for AI agents: email threading, timelines, send by conversation id.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      tags: [...OPENAPI_TAGS],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (json.$id as string) ?? `def-${i}` },
    // operationIds and every problem status each route can answer (openapi-transform.ts).
    transform: openApiTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // The web inbox at `/`, when built; its page paths fall back to the app shell.
  const shell = await installWebApp(app, config.webDir ?? DEFAULT_WEB_DIR);
  installProblemHandlers(app, routes, shell ?? undefined);
  // Before auth: an overloaded process answers 503 without a store lookup.
  await app.register(underPressure, {
    maxEventLoopDelay: config.httpMaxEventLoopDelayMs,
    maxHeapUsedBytes: config.httpMaxHeapUsedBytes,
    // Infinity: a sample with no measurement, the loop busy all along (start-up compiles every schema): not a verdict.
    pressureHandler: async (_request, reply, type, value) => { if (value !== Infinity) sendOverloaded(reply, type); },
  });
  const versions = new OrgVersions((orgId) => store.orgVersion(orgId));
  const limits = new RateLimits(store, config);
  const clock = options.clock ?? systemClock;
  await app.register(cookie);
  installAuth(app, new Authenticator(store, versions), (value) => authenticateSession(store, value, clock, config.sessionTtlMs), limits);
  installNulGuard(app);
  installIdempotency(app, store);
  installSendLimit(app, limits);
  app.addSchema(Problem);

  const ctx: ApiContext = {
    ...options,
    config,
    media: options.media ?? new DiskMediaStorage(path.join(config.dataDir, 'media')),
    clock,
    rateLimits: limits,
    readCache: new ReadCache(versions, config.readCacheBytes),
    channels: options.channels ?? defaultAdapters(config),
    resolver: options.resolver ?? systemResolver(undefined, config.dnsServers),
    metrics,
    listenerPorts: options.listenerPorts ?? (() => {
      const address = app.server.address();
      return [config.port, config.smtpPort, typeof address === 'object' && address ? address.port : 0].filter((p) => p > 0);
    }),
  };
  // The process is up even when it sheds load: no 503 from under-pressure here.
  app.get('/healthz', { schema: { hide: true }, config: { pressureHandler: () => undefined } }, async () => ({ status: 'ok' }));
  metricsRoutes(app, ctx);
  app.get('/readyz', { schema: { hide: true, response: { 200: Type.Object({ status: Type.String() }), 503: Problem } } }, async () => {
    if (!ctx.isReady()) throw new AppError('not_ready', 'The listeners are not accepting connections yet.');
    return { status: 'ready' };
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  conversationRoutes(app, ctx);
  outboundRoutes(app, ctx);
  inboxRoutes(app, ctx);
  eventRoutes(app, ctx);
  eventStreamRoutes(app, ctx);
  messageRoutes(app, ctx);
  identityRoutes(app, ctx);
  channelAccountRoutes(app, ctx);
  connectionRoutes(app, ctx);
  memberRoutes(app, ctx);
  sessionRoutes(app, ctx);
  inboundRoutes(app, ctx);
  blueBubblesRoutes(app, ctx);
  httpChannelRoutes(app, ctx);
  mediaRoutes(app, ctx);
  twilioRoutes(app, ctx);
  slaRoutes(app, ctx);
  viewRoutes(app, ctx);
  webhookRoutes(app, ctx);
  suggestionRoutes(app, ctx);
  trainingPairRoutes(app, ctx);
  contactRoutes(app, ctx);
  contactRuleRoutes(app, ctx);
  // The MCP server (Streamable HTTP), its tools calling the routes above with the caller's key.
  mcpRoutes(app, ctx);
  if (config.benchConstantRoute) benchConstantRoute(app, ctx);
  return app;
}

/** Seconds a client shed for load is told to wait (`Retry-After`). */
export const OVERLOADED_RETRY_AFTER_S = 10;

/**
 * The `503 not_ready` of a process shedding load (`why`: the exceeded measure or limit):
 * another node, or this one shortly, can take the request. Sent with `Retry-After`.
 */
export function overloaded(why: string): AppError {
  return new AppError('not_ready', `The server is overloaded (${why}); retry after ${OVERLOADED_RETRY_AFTER_S} s.`, {
    fix: 'Retry after the Retry-After delay, on another node if there is one.',
  });
}

function sendOverloaded(reply: FastifyReply, why: string): FastifyReply {
  reply.header('retry-after', String(OVERLOADED_RETRY_AFTER_S));
  return sendProblem(reply, overloaded(why));
}

/**
 * Fastify's server options for the HTTP timeouts: Node's `requestTimeout` and `headersTimeout`
 * (408 and close), `keepAliveTimeout`, and the socket inactivity timeout (`connectionTimeout`).
 */
function httpTimeouts(config: Config) {
  const requestTimeout = config.httpRequestTimeoutMs;
  const headersTimeout = Math.min(config.httpHeadersTimeoutMs, requestTimeout);
  return {
    requestTimeout, connectionTimeout: config.httpConnectionTimeoutMs, keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    // Node looks for expired requests every connectionsCheckingInterval (30 s by default, which would add up to 30 s to both).
    http: { requestTimeout, headersTimeout, connectionsCheckingInterval: Math.min(1_000, Math.ceil(headersTimeout / 4)) },
  };
}
