/**
 * Commit notifications between nodes on PostgreSQL: a writing transaction calls
 * `pg_notify(CHANNEL, orgId)`, which PostgreSQL delivers to every listening session when
 * (and only if) the transaction commits; each node keeps one LISTEN session and passes
 * what it hears to its {@link CommitNotifier}. Readers then read the store as usual, so a
 * lost notification only delays them until their next heartbeat read.
 */
import pg from 'pg';
import type { CommitNotifier } from '../commits.js';

/** The NOTIFY channel. */
export const COMMITS_CHANNEL = 'switchboard_commits';
/** The NOTIFY channel of ephemeral signals; payload `<orgId> <JSON>`. */
export const SIGNALS_CHANNEL = 'switchboard_signals';
/** Wait before reconnecting a broken LISTEN session, ms. */
const RECONNECT_MS = 1_000;

export interface CommitListener {
  close(): Promise<void>;
}

/**
 * Opens a LISTEN session on `url` that tells `notifier` of every commit any node
 * announces, reconnecting after errors until closed.
 */
export function listenForCommits(url: string, notifier: CommitNotifier): CommitListener {
  let client: pg.Client | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const connect = async () => {
    const c = new pg.Client({ connectionString: url });
    client = c;
    const retry = () => {
      if (client === c) client = null;
      c.removeAllListeners();
      void c.end().catch(() => {});
      if (!closed) timer = setTimeout(() => void connect(), RECONNECT_MS);
    };
    c.on('error', retry);
    c.on('end', () => { if (!closed && client === c) retry(); });
    c.on('notification', (msg) => {
      if (msg.channel === COMMITS_CHANNEL && msg.payload) notifier.committed(msg.payload);
      if (msg.channel === SIGNALS_CHANNEL && msg.payload) {
        const space = msg.payload.indexOf(' ');
        if (space > 0) notifier.signal(msg.payload.slice(0, space), msg.payload.slice(space + 1));
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${COMMITS_CHANNEL}`);
      await c.query(`LISTEN ${SIGNALS_CHANNEL}`);
    } catch {
      retry();
    }
  };
  void connect();

  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      const c = client;
      client = null;
      if (c) {
        c.removeAllListeners();
        c.on('error', () => {});
        await c.end().catch(() => {});
      }
    },
  };
}
