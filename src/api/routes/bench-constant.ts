/**
 * A benchmark aid, registered only when `benchConstantRoute` is on (`BENCH_CONSTANT_ROUTE=1`;
 * off by default, never for production): `GET /bench/constant` answers with the bytes
 * `GET /v1/conversations` gave the first organization's org-wide key for its first page,
 * from memory, with no store read and no auth. bench/inbox.mjs measures the list against
 * it on the same server, so the ratio shows what the store, auth and serialization cost
 * over Fastify and the socket alone.
 */
import { listConversations } from '../../store/conversations.js';
import { listOrganizations } from '../../store/tenants.js';
import type { Api, ApiContext } from '../app.js';
import { DEFAULT_LIMIT, page } from '../pagination.js';
import { conversationView } from '../presenters.js';
import { Conversation, Page } from '../schemas.js';

export const BENCH_CONSTANT_PATH = '/bench/constant';

/**
 * Registers {@link BENCH_CONSTANT_PATH}. The page is read once, by the first request
 * (the store may get its first organization after start-up), and serialized with the
 * list route's response schema and serializer compiler, so later requests send the very bytes the list
 * would: the default list filter (blocked senders hidden), 50 rows, newest first. An
 * organization-less store gives an empty page.
 */
export function benchConstantRoute(app: Api, { store }: ApiContext): void {
  const firstPage = async () => {
    const [org] = await listOrganizations(store.db);
    if (!org) return { data: [], next_cursor: null, has_more: false };
    const rows = await listConversations(store.db, org.id, { isBlocked: false, limit: DEFAULT_LIMIT });
    return page(rows, DEFAULT_LIMIT, conversationView, (r) => ({ t: r.last_event_at, id: r.id }));
  };
  const schema = { ...Page(Conversation) };
  let loading: ReturnType<typeof firstPage> | undefined;
  let bytes: Buffer | undefined;
  app.get(BENCH_CONSTANT_PATH, { schema: { hide: true } }, async (_request, reply) => {
    if (!bytes) {
      loading ??= firstPage();
      bytes = Buffer.from(reply.serializeInput(await loading, schema) as string);
    }
    // A Buffer is sent as is: no serialization per request.
    return reply.type('application/json; charset=utf-8').send(bytes);
  });
}
