/**
 * The server's Prometheus metrics (prom-client): one {@link Metrics} per app instance,
 * owning its own registry (never prom-client's global one, so that several servers in one
 * process, as in the tests, count apart), with one named metric object per measure.
 * Modules that count take the object through their context or options and call
 * `metrics.x.inc(...)`; where none was given (tests, the CLI's import) they count nothing.
 *
 * Names and units follow the Prometheus conventions (https://prometheus.io/docs/practices/naming/):
 * `switchboard_` prefix, `_total` counters, `_seconds` histograms. Every label takes a
 * small fixed set of values (route patterns, never raw URLs), so the number of series
 * stays bounded whatever the traffic. docs/deployment.md ("Metrics") lists them all.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { QueryKind } from '../store/query-log.js';

/** Latency buckets of HTTP requests, seconds: from a cached list page (~1 ms) to a slow upload. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Latency buckets of store queries, seconds. */
const QUERY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Latency buckets of webhook attempts, seconds (the attempt timeout is 15 s by default). */
const WEBHOOK_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60];

/** The `route` label of a request that matched no route: one value, whatever the URL. */
export const UNMATCHED_ROUTE = 'unmatched';

/** The reply class of an SMTP or HTTP status code: `2xx`, `4xx`, `5xx`. */
export function statusClass(code: number): string {
  return `${Math.floor(code / 100)}xx`;
}

/** What the outbound queue holds, by state, for the depth gauge. */
export type QueueDepthSource = () => Promise<Readonly<Record<'queued' | 'deferred', number>>>;

/**
 * Metrics of one app instance. Create one per server; pass it to the app (`buildApp`), the
 * SMTP listener, the workers and the store (`openStore`'s `onQuery`).
 */
export class Metrics {
  /** The registry these metrics are in (process metrics are added at scrape time, {@link scrape}). */
  readonly registry = new Registry();

  /** HTTP requests answered, by route pattern (`/v1/conversations/:id`, or {@link UNMATCHED_ROUTE}), method and status code. */
  readonly httpRequests = new Counter({
    name: 'switchboard_http_requests_total', help: 'HTTP requests answered, by route pattern, method and status code.',
    labelNames: ['route', 'method', 'status_code'] as const, registers: [this.registry],
  });

  /** Time from a request's arrival to its answer, seconds, by route pattern, method and status class. */
  readonly httpRequestDuration = new Histogram({
    name: 'switchboard_http_request_duration_seconds', help: 'Time from an HTTP request\'s arrival to the end of its answer, seconds.',
    labelNames: ['route', 'method', 'status_class'] as const, buckets: HTTP_BUCKETS, registers: [this.registry],
  });

  /** SMTP connections: `opened` (greeted) or `refused` (`421`: connection limits). */
  readonly smtpSessions = new Counter({
    name: 'switchboard_smtp_sessions_total', help: 'SMTP connections, opened or refused at connect (421, connection limits).',
    labelNames: ['result'] as const, registers: [this.registry],
  });

  /** RCPT TO replies: `accepted` (250) or `refused` (550 unknown mailbox, 452 too many, 451 lookup failure). */
  readonly smtpRecipients = new Counter({
    name: 'switchboard_smtp_recipients_total', help: 'SMTP RCPT TO replies, accepted or refused, by reply class.',
    labelNames: ['result', 'reply_class'] as const, registers: [this.registry],
  });

  /**
   * Messages answered at the end of DATA: `accepted` (250, committed) or `refused` (552
   * too large, 550 refused by policy, 451 could not be stored); a MAIL FROM refused for want
   * of STARTTLS (530) counts as a refused message too.
   */
  readonly smtpMessages = new Counter({
    name: 'switchboard_smtp_messages_total', help: 'SMTP messages accepted (250 after the commit) or refused, by reply class.',
    labelNames: ['result', 'reply_class'] as const, registers: [this.registry],
  });

  /**
   * Inbound messages per channel and mailbox or account, by outcome: `stored`, `duplicate`,
   * `rejected` (an email mailbox's inbound policy), `bounce` (a delivery report recorded on
   * the message it returns), `error` (could not be stored; the sender is told to retry).
   */
  readonly ingestMessages = new Counter({
    name: 'switchboard_ingest_messages_total', help: 'Inbound messages received, by channel and outcome (stored, duplicate, rejected, bounce, error).',
    labelNames: ['channel', 'outcome'] as const, registers: [this.registry],
  });

  /**
   * Sends (replies, first messages, suggestion sends) by channel and what they were
   * answered: email `queued` (for the relay) or `captured` (no relay); other channels
   * `sent`, `queued` or `failed` (the provider refused it for good), `upstream_failed` (the
   * provider failed: 502, retryable); `error` when the server failed.
   */
  readonly sendMessages = new Counter({
    name: 'switchboard_send_messages_total', help: 'Messages sent through the API, by channel and outcome (queued, captured, sent, failed, upstream_failed, error).',
    labelNames: ['channel', 'outcome'] as const, registers: [this.registry],
  });

  /** Outbound-queue hand-overs of email to a relay, by outcome: `sent`, `captured`, `deferred` (retried later), `failed`. */
  readonly outboundAttempts = new Counter({
    name: 'switchboard_outbound_email_attempts_total', help: 'Attempts to hand queued email to its relay, by outcome (sent, captured, deferred, failed).',
    labelNames: ['outcome'] as const, registers: [this.registry],
  });

  /** Email waiting in the outbound queue, by state (`queued`, `deferred`), read from the store at each scrape. */
  readonly outboundQueue = new Gauge({
    name: 'switchboard_outbound_queue_messages', help: 'Email waiting in the outbound queue (all nodes), by state: queued or deferred.',
    labelNames: ['state'] as const, registers: [this.registry],
    collect: () => this.#collectQueueDepth(),
  });

  /** Webhook POSTs, by outcome: `success` (2xx) or `failure` (any other status, timeout, refused connection). */
  readonly webhookAttempts = new Counter({
    name: 'switchboard_webhook_attempts_total', help: 'Webhook delivery attempts, by outcome (success: 2xx; failure: anything else).',
    labelNames: ['outcome'] as const, registers: [this.registry],
  });

  /** Time of one webhook POST, seconds, by outcome. */
  readonly webhookAttemptDuration = new Histogram({
    name: 'switchboard_webhook_attempt_duration_seconds', help: 'Time of one webhook delivery attempt, seconds, by outcome.',
    labelNames: ['outcome'] as const, buckets: WEBHOOK_BUCKETS, registers: [this.registry],
  });

  /** Webhook deliveries ended: `succeeded`, or `failed` once every retry failed. */
  readonly webhookDeliveries = new Counter({
    name: 'switchboard_webhook_deliveries_total', help: 'Webhook deliveries ended, by outcome (succeeded; failed after the last retry).',
    labelNames: ['outcome'] as const, registers: [this.registry],
  });

  /** Open live streams (`GET /v1/events/stream`) on this node. */
  readonly streamSubscribers = new Gauge({
    name: 'switchboard_stream_subscribers', help: 'Live event streams open on this node.', registers: [this.registry],
  });

  /** Live streams this node dropped because the client did not read (`STREAM_SLOW_CLIENT_MS`). */
  readonly streamDrops = new Counter({
    name: 'switchboard_stream_slow_client_drops_total', help: 'Live event streams dropped because the client left data unread too long.',
    registers: [this.registry],
  });

  /** Store query latency, seconds, by operation (`select`, `insert`, `update`, `delete`, `transaction`: begin/commit/rollback, `raw`, `schema`). */
  readonly storeQueryDuration = new Histogram({
    name: 'switchboard_store_query_duration_seconds', help: 'Store (SQLite or PostgreSQL) query latency, seconds, by operation.',
    labelNames: ['operation'] as const, buckets: QUERY_BUCKETS, registers: [this.registry],
  });

  /** Store queries that failed, by operation (deadlocks retried included). */
  readonly storeQueryErrors = new Counter({
    name: 'switchboard_store_query_errors_total', help: 'Store queries that failed, by operation.',
    labelNames: ['operation'] as const, registers: [this.registry],
  });

  #queueDepth: QueueDepthSource | null = null;

  /** Sets where the outbound queue gauge reads its depth from at each scrape (a store query). */
  setQueueDepthSource(source: QueueDepthSource): void {
    this.#queueDepth = source;
  }

  async #collectQueueDepth(): Promise<void> {
    this.outboundQueue.reset();
    if (!this.#queueDepth) return;
    // A store that cannot answer leaves the gauge without series: the rest of the scrape still works.
    const depth = await this.#queueDepth().catch(() => null);
    if (!depth) return;
    this.outboundQueue.set({ state: 'queued' }, depth.queued);
    this.outboundQueue.set({ state: 'deferred' }, depth.deferred);
  }

  /**
   * Records one store query (the store's `onQuery`): its latency and whether it failed.
   *
   * @param durationMs how long the query took, milliseconds.
   */
  readonly observeQuery = (operation: QueryKind, durationMs: number, failed: boolean): void => {
    this.storeQueryDuration.observe({ operation }, durationMs / 1000);
    if (failed) this.storeQueryErrors.inc({ operation });
  };

  /** The content type of {@link scrape}'s text (Prometheus text exposition format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text format: this instance's, then the process's (CPU, memory, event-loop lag, GC). */
  async scrape(): Promise<string> {
    const own = await this.registry.metrics();
    return `${own}\n${await processRegistry().metrics()}`;
  }
}

let processMetrics: Registry | undefined;

/**
 * The process metrics (prom-client's default collectors: `process_*`, `nodejs_*`), in a
 * registry of their own shared by every instance: they describe the process, and each
 * collector set starts an event-loop delay monitor that is never stopped, so it is made once.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
