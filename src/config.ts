/**
 * Configuration, parsed once at boot. Nothing below this module reads `process.env`:
 * the frozen {@link Config} is passed in to whatever needs it.
 */
import path from 'node:path';
import Type, { type Static } from 'typebox';
import { Value } from 'typebox/value';

const ConfigSchema = Type.Object({
  /** Directory of the embedded store (`switchboard.db`). */
  dataDir: Type.String({ minLength: 1 }),
  /** PostgreSQL connection URI; when set, the store is PostgreSQL instead of SQLite. */
  databaseUrl: Type.Union([Type.String({ minLength: 1, pattern: '^postgres(ql)?://' }), Type.Null()]),
  /** Pooled PostgreSQL connections per process. */
  databasePoolSize: Type.Integer({ minimum: 1, maximum: 1000 }),
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
  /** Largest accepted raw message (SMTP SIZE, `POST /v1/inbound/email`), bytes. */
  maxMessageBytes: Type.Integer({ minimum: 1024 }),
  /** Largest JSON request body, bytes. */
  maxJsonBytes: Type.Integer({ minimum: 1024 }),
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
});

/** The whole server configuration, validated and frozen. */
export type Config = Readonly<Static<typeof ConfigSchema>>;

/** Values that win over the environment (CLI flags, tests). */
export type ConfigOverrides = Partial<Config>;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Builds the configuration from environment variables and explicit overrides.
 *
 * Environment: `DATA_DIR` (default `./data`), `DATABASE_URL` (none: SQLite),
 * `DATABASE_POOL_SIZE` (10), `HOST` (`0.0.0.0`), `PORT` (8080),
 * `SMTP_HOST` (`0.0.0.0`), `SMTP_PORT` (2525), `SMTP_TLS_CERT` and `SMTP_TLS_KEY` (none:
 * no STARTTLS; one without the other is an error), `SMTP_REQUIRE_TLS` (`false`; `true`
 * needs both), `MAX_MESSAGE_BYTES` (26214400),
 * `MAX_JSON_BYTES` (1048576), `THREAD_BY_SUBJECT` (`false`), `LOG_LEVEL` (`info`),
 * `SERVER_NAME` (`localhost`), `STREAM_HEARTBEAT_MS` (15000), `STREAM_SLOW_CLIENT_MS`
 * (30000), `SWEEP_INTERVAL_MS` (1000), `WEBHOOK_DISABLE_AFTER_MS`
 * (432000000: 5 days), `WEBHOOK_TIMEOUT_MS` (15000), `OUTBOUND_LIFETIME_MS` (172800000: 2 days), `READ_CACHE_BYTES` (67108864: 64 MiB), `BENCH_CONSTANT_ROUTE` (`false`; the
 * benchmark's baseline route, never for production), `PROVIDER_TIMEOUT_MS` (15000),
 * `MAX_MEDIA_BYTES` (5242880: 5 MiB), `MEDIA_URL_SECRET` (none: generated once and kept in
 * the data directory), `PUBLIC_URL` (none; trailing slashes dropped), `OUTBOUND_ALLOW_PRIVATE`
 * (`false`).
 *
 * @throws Error naming each invalid setting.
 */
export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = {
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || null,
    databasePoolSize: env.DATABASE_POOL_SIZE ?? 10,
    host: env.HOST ?? '0.0.0.0',
    port: env.PORT ?? 8080,
    smtpHost: env.SMTP_HOST ?? '0.0.0.0',
    smtpPort: env.SMTP_PORT ?? 2525,
    smtpTlsCert: env.SMTP_TLS_CERT || null,
    smtpTlsKey: env.SMTP_TLS_KEY || null,
    smtpRequireTls: env.SMTP_REQUIRE_TLS ?? false,
    maxMessageBytes: env.MAX_MESSAGE_BYTES ?? 25 * 1024 * 1024,
    maxJsonBytes: env.MAX_JSON_BYTES ?? 1024 * 1024,
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
    publicUrl: env.PUBLIC_URL ? env.PUBLIC_URL.replace(/\/+$/, '') : null,
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
