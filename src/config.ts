/**
 * Configuration, parsed once at boot. Nothing below this module reads `process.env`:
 * the frozen {@link Config} is passed in to whatever needs it.
 */
import dns from 'node:dns';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import Type, { type Static } from 'typebox';
import { Value } from 'typebox/value';
import { DEFAULT_GROUP_COMMIT_MAX, DEFAULT_GROUP_COMMIT_WAIT_MS } from './store/group-commit.js';

const ConfigSchema = Type.Object({
  /** Directory of the embedded store (`switchboard.db`). */
  dataDir: Type.String({ minLength: 1 }),
  /** PostgreSQL connection URI; when set, the store is PostgreSQL instead of SQLite. */
  databaseUrl: Type.Union([Type.String({ minLength: 1, pattern: '^postgres(ql)?://' }), Type.Null()]),
  /** Pooled PostgreSQL connections per process. */
  databasePoolSize: Type.Integer({ minimum: 1, maximum: 1000 }),
  /**
   * Whether PostgreSQL connections prepare the statements they run repeatedly
   * (store/postgres/prepared-statements.ts); off for a pooler that cannot keep them
   * (PgBouncer in transaction mode before 1.21, or without `max_prepared_statements`).
   */
  databasePreparedStatements: Type.Boolean(),
  /** HTTP listener. */
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  /** SMTP listener (inbound mail). */
  smtpHost: Type.String({ minLength: 1 }),
  smtpPort: Type.Integer({ minimum: 0, maximum: 65535 }),
  /**
   * PEM files of the SMTP listener's certificate (chain) and private key. With both set the
   * listener offers STARTTLS (RFC 3207); null: it does not. Read once at start-up.
   */
  smtpTlsCert: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
  smtpTlsKey: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
  /** Refuse MAIL FROM before STARTTLS (`530 5.7.0`); needs `smtpTlsCert` and `smtpTlsKey`. */
  smtpRequireTls: Type.Boolean(),
  /** Most recipients of one SMTP message; RCPT TO past it gets `452 4.5.3` (RFC 5321 4.5.3.1.10), the sender sends the rest in another transaction. */
  smtpMaxRecipients: Type.Integer({ minimum: 1, maximum: 100_000 }),
  /** Open SMTP connections in all; one more is answered `421` and closed. */
  smtpMaxConnections: Type.Integer({ minimum: 1, maximum: 100_000 }),
  /** Open SMTP connections from one client IP; one more is answered `421 4.7.0` and closed. */
  smtpMaxConnectionsPerIp: Type.Integer({ minimum: 1, maximum: 100_000 }),
  /** An SMTP client that sends nothing for this long, while the server waits for it, gets `421` and is disconnected, ms. */
  smtpIdleTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
  /**
   * Longest SMTP session, ms: past it the client gets `421 4.4.2` and is disconnected, however
   * busy it keeps the connection (a client trickling bytes never goes idle). A message already
   * received and being stored is answered first.
   */
  smtpSessionTimeoutMs: Type.Integer({ minimum: 100, maximum: 86_400_000 }),
  /** Largest accepted raw message (SMTP SIZE, `POST /v1/inbound/email`), bytes. */
  maxMessageBytes: Type.Integer({ minimum: 1024 }),
  /**
   * Worker threads that parse live mail (SMTP, `POST /v1/inbound/email`) off the event loop;
   * 0 parses on the main thread (no time limit).
   */
  parseThreads: Type.Integer({ minimum: 0, maximum: 64 }),
  /**
   * Longest parse of one live message, ms: past it the parse is stopped and the message is
   * stored as its headers and text, with `parse_problems` naming the cut (the raw copy is kept whole).
   */
  parseTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
  /**
   * Most inbound messages (SMTP, `POST /v1/inbound/email`, channel webhooks) that arrive
   * together and share one transaction (store/group-commit.ts); 1: a transaction each.
   */
  ingestBatchMax: Type.Integer({ minimum: 1, maximum: 10_000 }),
  /**
   * While inbound messages keep arriving (the last shared transaction ended less than this
   * ago), how long the next one waits for more to share it, ms; a message arriving at a
   * quiet server never waits. 0: never wait.
   */
  ingestBatchWaitMs: Type.Integer({ minimum: 0, maximum: 1_000 }),
  /**
   * DNS servers of the mail authentication lookups (SPF, DKIM, DMARC, ARC): `IP` or
   * `IP:port`; empty: the system's (`/etc/resolv.conf`). A caching resolver nearby keeps
   * each arrival's lookups short.
   */
  dnsServers: Type.Array(Type.String({ minLength: 1, pattern: '^[0-9A-Fa-f:.\\[\\]]+$' }), { maxItems: 16 }),
  /** Largest JSON request body, bytes. */
  maxJsonBytes: Type.Integer({ minimum: 1024 }),
  /** An HTTP request (headers and body) must have arrived within this, ms; else `408` and the connection is closed. */
  httpRequestTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
  /** An HTTP request's headers must have arrived within this, ms (at most `httpRequestTimeoutMs`: the smaller wins). */
  httpHeadersTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
  /** An idle keep-alive HTTP connection is closed after this, ms. */
  httpKeepAliveTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
  /** An HTTP connection on which nothing is read or written for this long is closed, ms; above `streamHeartbeatMs`. */
  httpConnectionTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
  /**
   * Open HTTP connections (live streams included). A connection past it gets `503` with
   * `Retry-After` to its first request and is closed; past it by a tenth more (at least 64) connections are refused outright.
   */
  httpMaxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  /** Mean event-loop delay above which requests get `503` with `Retry-After` (`/healthz` excepted), ms; 0 turns the check off. */
  httpMaxEventLoopDelayMs: Type.Integer({ minimum: 0, maximum: 60_000 }),
  /** V8 heap in use above which requests get `503` with `Retry-After` (`/healthz` excepted), bytes; 0 turns the check off. */
  httpMaxHeapUsedBytes: Type.Integer({ minimum: 0 }),
  /**
   * How long a graceful shutdown (SIGTERM) may take, ms: live streams get a final `shutdown`
   * event, idle SMTP sessions `421`, requests and messages in flight finish; what is still
   * open at the deadline is cut.
   */
  shutdownTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
  /**
   * Failed authentications (`401`) one client IP may have a minute; past it, its `/v1`
   * requests get `429 rate_limited` until the minute ends, without the key being checked.
   * Counted across nodes on PostgreSQL. 0 turns the limit off.
   */
  rateLimitAuthFailures: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  /** Requests one API key may make a minute on one node (`429` past it); 0 turns the limit off. */
  rateLimitRequests: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
  /**
   * Messages one identity may send a minute (first messages, replies, suggestion sends),
   * counted across nodes on PostgreSQL (`429` past it); 0 turns the limit off.
   */
  rateLimitSends: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  /**
   * Reverse proxies whose `X-Forwarded-For` names the client (comma-separated addresses or
   * CIDR ranges, Fastify's `trustProxy`); null: the TCP peer is the client.
   */
  trustProxy: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
  /** Subject fallback threading (SPEC 4, rule 3): off by default. */
  threadBySubject: Type.Boolean(),
  /** How far back subject fallback looks for a conversation, ms. */
  subjectFallbackWindowMs: Type.Integer({ minimum: 0 }),
  /** pino level. */
  logLevel: Type.Union([
    Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'),
    Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent'),
  ]),
  /** Host name this server announces in SMTP greetings. */
  serverName: Type.String({ minLength: 1 }),
  /** The live stream sends a heartbeat comment after this much silence, ms. */
  streamHeartbeatMs: Type.Integer({ minimum: 10, maximum: 600_000 }),
  /** A live-stream client that leaves written bytes unread this long is dropped, ms. */
  streamSlowClientMs: Type.Integer({ minimum: 10, maximum: 3_600_000 }),
  /** How often each node looks for due timers and webhook deliveries, ms. */
  sweepIntervalMs: Type.Integer({ minimum: 10, maximum: 3_600_000 }),
  /** A webhook endpoint failing without a success for this long is disabled, ms. */
  webhookDisableAfterMs: Type.Integer({ minimum: 0 }),
  outboundLifetimeMs: Type.Integer({ minimum: 60_000 }),
  /** Per-attempt timeout of a webhook delivery, ms. */
  webhookTimeoutMs: Type.Integer({ minimum: 100, maximum: 120_000 }),
  /** Per-request timeout of a channel provider's API (Twilio, BlueBubbles, the HTTP channel's outbound URL), ms. */
  providerTimeoutMs: Type.Integer({ minimum: 100, maximum: 120_000 }),
  /**
   * The URL providers reach this server at (`https://switchboard.example.com`, no trailing
   * slash), for webhook signatures, the status callback URLs and signed media URLs given to providers; null:
   * taken from each request's protocol and Host header, and sends carry no status callback.
   */
  publicUrl: Type.Union([Type.String({ pattern: '^https?://[^/?#]+(/[^?#]*[^/?#])?$' }), Type.Null()]),
  /**
   * Whether outbound requests to addresses tenants or provider webhooks choose (webhook
   * targets, provider base URLs, inbound media URLs) may reach private, loopback and
   * link-local addresses (net/outbound.ts); off by default (SSRF protection).
   */
  outboundAllowPrivate: Type.Boolean(),
  /** Bound of the cache of list pages and view counts (api/read-cache.ts), bytes; 0 turns it off. */
  readCacheBytes: Type.Integer({ minimum: 0 }),
  /**
   * Benchmark aid, off by default: serves `GET /bench/constant` (api/routes/bench-constant.ts),
   * the first organization's first conversation page from memory, no store and no auth.
   */
  benchConstantRoute: Type.Boolean(),
  /** Largest upload accepted by `POST /v1/media`, bytes. */
  maxMediaBytes: Type.Integer({ minimum: 1 }),
  /**
   * Key of the HMAC-SHA256 that signs public media URLs (`GET /media/{id}?expires&signature`).
   * When unset, api/app.ts fills it in from `<dataDir>/media-url-secret` (created at first start).
   */
  mediaUrlSecret: Type.Union([Type.String({ minLength: 16 }), Type.Null()]),
  /**
   * Bearer token `GET /metrics` requires (`Authorization: Bearer <token>`, compared in
   * constant time; `401` otherwise); null: the metrics are open to whoever reaches the port
   * (firewall it). At least 16 characters.
   */
  metricsToken: Type.Union([Type.String({ minLength: 16, pattern: '^\\S+$' }), Type.Null()]),
  /** How long a person's browser session lasts without use, ms (each use extends it; at least a minute). */
  sessionTtlMs: Type.Integer({ minimum: 60_000 }),
  /** How long a one-time sign-in link works, ms. */
  loginLinkTtlMs: Type.Integer({ minimum: 10_000, maximum: 7 * 24 * 3_600_000 }),
  /**
   * The built web inbox (`index.html` and `assets/`) served at `/`; null: the `web/dist` of
   * this installation. When the folder holds no `index.html`, `/` serves nothing (API only).
   */
  webDir: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
});

/** The whole server configuration, validated and frozen. */
export type Config = Readonly<Static<typeof ConfigSchema>>;

/** Values that win over the environment (CLI flags, tests). */
export type ConfigOverrides = Partial<Config>;

const DAY_MS = 24 * 60 * 60 * 1000;

/** The default of `HTTP_MAX_HEAP_USED_BYTES`: nine tenths of V8's heap limit (`--max-old-space-size`). */
function defaultMaxHeapUsedBytes(): number {
  return Math.floor(v8.getHeapStatistics().heap_size_limit * 0.9);
}

/**
 * Builds the configuration from environment variables and explicit overrides.
 *
 * Environment: `DATA_DIR` (default `./data`), `DATABASE_URL` (none: SQLite),
 * `DATABASE_POOL_SIZE` (10), `DATABASE_PREPARED_STATEMENTS` (`true`), `HOST` (`0.0.0.0`), `PORT` (8080),
 * `SMTP_HOST` (`0.0.0.0`), `SMTP_PORT` (2525), `SMTP_TLS_CERT` and `SMTP_TLS_KEY` (none:
 * no STARTTLS; one without the other is an error), `SMTP_REQUIRE_TLS` (`false`; `true`
 * needs both), `SMTP_MAX_RECIPIENTS` (100), `SMTP_MAX_CONNECTIONS` (100),
 * `SMTP_MAX_CONNECTIONS_PER_IP` (20), `SMTP_IDLE_TIMEOUT_MS` (300000: 5 minutes),
 * `SMTP_SESSION_TIMEOUT_MS` (600000: 10 minutes), `MAX_MESSAGE_BYTES` (26214400),
 * `MAX_JSON_BYTES` (1048576), `PARSE_THREADS` (2, or 1 on one core), `PARSE_TIMEOUT_MS` (10000), `INGEST_BATCH_MAX` (32), `INGEST_BATCH_WAIT_MS` (10), `DNS_SERVERS` (none: the system's; comma-separated `IP` or `IP:port`), `HTTP_REQUEST_TIMEOUT_MS` (30000), `HTTP_HEADERS_TIMEOUT_MS`
 * (10000), `HTTP_KEEP_ALIVE_TIMEOUT_MS` (72000), `HTTP_CONNECTION_TIMEOUT_MS` (60000),
 * `HTTP_MAX_CONNECTIONS` (2000), `HTTP_MAX_EVENT_LOOP_DELAY_MS` (1000),
 * `HTTP_MAX_HEAP_USED_BYTES` (nine tenths of V8's heap limit), `SHUTDOWN_TIMEOUT_MS` (10000),
 * `RATE_LIMIT_AUTH_FAILURES` (20 a minute per client IP), `RATE_LIMIT_REQUESTS` (6000 a
 * minute per API key), `RATE_LIMIT_SENDS` (120 a minute per identity), `TRUST_PROXY` (none),
 * `THREAD_BY_SUBJECT` (`false`), `LOG_LEVEL` (`info`),
 * `SERVER_NAME` (`localhost`), `STREAM_HEARTBEAT_MS` (15000), `STREAM_SLOW_CLIENT_MS`
 * (30000), `SWEEP_INTERVAL_MS` (1000), `WEBHOOK_DISABLE_AFTER_MS`
 * (432000000: 5 days), `WEBHOOK_TIMEOUT_MS` (15000), `OUTBOUND_LIFETIME_MS` (172800000: 2 days), `READ_CACHE_BYTES` (67108864: 64 MiB), `BENCH_CONSTANT_ROUTE` (`false`; the
 * benchmark's baseline route, never for production), `PROVIDER_TIMEOUT_MS` (15000),
 * `MAX_MEDIA_BYTES` (5242880: 5 MiB), `MEDIA_URL_SECRET` (none: generated once and kept in
 * the data directory), `PUBLIC_URL` (none; trailing slashes dropped), `OUTBOUND_ALLOW_PRIVATE`
 * (`false`), `METRICS_TOKEN` (none: `GET /metrics` is open), `SESSION_TTL_MS` (1209600000:
 * 14 days), `LOGIN_LINK_TTL_MS` (900000: 15 minutes), `WEB_DIR` (none: `web/dist`).
 *
 * @throws Error naming each invalid setting.
 */
export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = {
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || null,
    databasePoolSize: env.DATABASE_POOL_SIZE ?? 10,
    databasePreparedStatements: env.DATABASE_PREPARED_STATEMENTS ?? true,
    host: env.HOST ?? '0.0.0.0',
    port: env.PORT ?? 8080,
    smtpHost: env.SMTP_HOST ?? '0.0.0.0',
    smtpPort: env.SMTP_PORT ?? 2525,
    smtpTlsCert: env.SMTP_TLS_CERT || null,
    smtpTlsKey: env.SMTP_TLS_KEY || null,
    smtpRequireTls: env.SMTP_REQUIRE_TLS ?? false,
    // Reasons for these defaults: docs/deployment.md, "Limits".
    smtpMaxRecipients: env.SMTP_MAX_RECIPIENTS ?? 100,
    smtpMaxConnections: env.SMTP_MAX_CONNECTIONS ?? 100,
    smtpMaxConnectionsPerIp: env.SMTP_MAX_CONNECTIONS_PER_IP ?? 20,
    smtpIdleTimeoutMs: env.SMTP_IDLE_TIMEOUT_MS ?? 300_000,
    smtpSessionTimeoutMs: env.SMTP_SESSION_TIMEOUT_MS ?? 600_000,
    maxMessageBytes: env.MAX_MESSAGE_BYTES ?? 25 * 1024 * 1024,
    maxJsonBytes: env.MAX_JSON_BYTES ?? 1024 * 1024,
    parseThreads: env.PARSE_THREADS ?? Math.min(2, os.availableParallelism()),
    parseTimeoutMs: env.PARSE_TIMEOUT_MS ?? 10_000,
    ingestBatchMax: env.INGEST_BATCH_MAX ?? DEFAULT_GROUP_COMMIT_MAX,
    ingestBatchWaitMs: env.INGEST_BATCH_WAIT_MS ?? DEFAULT_GROUP_COMMIT_WAIT_MS,
    dnsServers: (env.DNS_SERVERS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    httpRequestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS ?? 30_000,
    httpHeadersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS ?? 10_000,
    httpKeepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS ?? 72_000,
    httpConnectionTimeoutMs: env.HTTP_CONNECTION_TIMEOUT_MS ?? 60_000,
    httpMaxConnections: env.HTTP_MAX_CONNECTIONS ?? 2_000,
    httpMaxEventLoopDelayMs: env.HTTP_MAX_EVENT_LOOP_DELAY_MS ?? 1_000,
    httpMaxHeapUsedBytes: env.HTTP_MAX_HEAP_USED_BYTES ?? defaultMaxHeapUsedBytes(),
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS ?? 10_000,
    trustProxy: env.TRUST_PROXY || null,
    rateLimitAuthFailures: env.RATE_LIMIT_AUTH_FAILURES ?? 20,
    rateLimitRequests: env.RATE_LIMIT_REQUESTS ?? 6_000,
    rateLimitSends: env.RATE_LIMIT_SENDS ?? 120,
    threadBySubject: env.THREAD_BY_SUBJECT ?? false,
    subjectFallbackWindowMs: env.SUBJECT_FALLBACK_WINDOW_MS ?? 30 * DAY_MS,
    logLevel: env.LOG_LEVEL ?? 'info',
    serverName: env.SERVER_NAME ?? 'localhost',
    streamHeartbeatMs: env.STREAM_HEARTBEAT_MS ?? 15_000,
    streamSlowClientMs: env.STREAM_SLOW_CLIENT_MS ?? 30_000,
    sweepIntervalMs: env.SWEEP_INTERVAL_MS ?? 1_000,
    webhookDisableAfterMs: env.WEBHOOK_DISABLE_AFTER_MS ?? 5 * DAY_MS,
    outboundLifetimeMs: env.OUTBOUND_LIFETIME_MS ?? 2 * DAY_MS,
    webhookTimeoutMs: env.WEBHOOK_TIMEOUT_MS ?? 15_000,
    providerTimeoutMs: env.PROVIDER_TIMEOUT_MS ?? 15_000,
    readCacheBytes: env.READ_CACHE_BYTES ?? 64 * 1024 * 1024,
    outboundAllowPrivate: env.OUTBOUND_ALLOW_PRIVATE ?? false,
    benchConstantRoute: env.BENCH_CONSTANT_ROUTE ?? false,
    maxMediaBytes: env.MAX_MEDIA_BYTES ?? 5 * 1024 * 1024,
    mediaUrlSecret: env.MEDIA_URL_SECRET || null,
    metricsToken: env.METRICS_TOKEN || null,
    publicUrl: env.PUBLIC_URL ? env.PUBLIC_URL.replace(/\/+$/, '') : null,
    sessionTtlMs: env.SESSION_TTL_MS ?? 14 * DAY_MS,
    loginLinkTtlMs: env.LOGIN_LINK_TTL_MS ?? 15 * 60_000,
    webDir: env.WEB_DIR || null,
    ...stripUndefined(overrides),
  };
  const converted = Value.Convert(ConfigSchema, raw);
  if (!Value.Check(ConfigSchema, converted)) {
    const problems = [...Value.Errors(ConfigSchema, converted)]
      .map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new Error(`invalid configuration: ${problems.join('; ')}`);
  }
  const config = converted as Config;
  if ((config.smtpTlsCert === null) !== (config.smtpTlsKey === null)) {
    throw new Error('invalid configuration: SMTP_TLS_CERT and SMTP_TLS_KEY go together (the certificate and its private key, PEM files); set both or neither');
  }
  if (config.httpConnectionTimeoutMs <= config.streamHeartbeatMs) {
    throw new Error(`invalid configuration: HTTP_CONNECTION_TIMEOUT_MS (${config.httpConnectionTimeoutMs}) must be above STREAM_HEARTBEAT_MS (${config.streamHeartbeatMs}), or every quiet live stream is cut before its heartbeat`);
  }
  for (const server of config.dnsServers) {
    try {
      new dns.Resolver().setServers([server]);
    } catch {
      throw new Error(`invalid configuration: DNS_SERVERS: ${server} is not an IP address, IP:port or [IPv6]:port`);
    }
  }
  if (config.smtpRequireTls && config.smtpTlsCert === null) {
    throw new Error('invalid configuration: SMTP_REQUIRE_TLS=true needs SMTP_TLS_CERT and SMTP_TLS_KEY (without a certificate the SMTP listener cannot offer STARTTLS)');
  }
  return Object.freeze({
    ...config, dataDir: path.resolve(config.dataDir),
    smtpTlsCert: config.smtpTlsCert && path.resolve(config.smtpTlsCert), smtpTlsKey: config.smtpTlsKey && path.resolve(config.smtpTlsKey),
  });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Where the store lives, for messages to people: the SQLite directory or "PostgreSQL". */
export function storeLocation(config: Pick<Config, 'dataDir' | 'databaseUrl'>): string {
  return config.databaseUrl ? 'PostgreSQL' : config.dataDir;
}
