/**
 * Training pairs (SPEC section 6, "AI suggestions"): each draft a human sent (edited or
 * not) or answered with a reply of their own, with the text that went out. `GET
 * /v1/training_pairs` pages them as JSON, or streams every matching pair as JSON Lines
 * (`?format=jsonl` or `Accept: application/x-ndjson`) for fine-tuning exports.
 */
import { Readable } from 'node:stream';
import Type, { type Static } from 'typebox';
import { isId } from '../../ids.js';
import { listTrainingPairs, type TrainingPairQuery, type TrainingPairRow } from '../../store/suggestions.js';
import type { Db } from '../../store/store.js';
import { principalOf } from '../auth.js';
import { instant } from '../conversation-filter.js';
import { decodeCursor, DEFAULT_LIMIT, page } from '../pagination.js';
import { Actor, Nullable, Page, PageQuery, Problem } from '../schemas.js';
import { identityScope } from '../scope.js';
import type { Api, ApiContext } from '../app.js';

/** Pairs read per query while streaming JSON Lines. */
export const EXPORT_BATCH = 500;

export const JSON_LINES = 'application/x-ndjson';


export const TrainingPair = Type.Object({
  id: Type.String({ description: '`tp_…` id' }),
  conversation_id: Type.String(),
  suggestion_id: Type.String(),
  message_id: Type.String({ description: 'the message that went out' }),
  draft: Type.String({ description: 'the suggestion\'s text' }),
  sent_text: Type.String({ description: 'the text that went out' }),
  edited: Type.Boolean({ description: 'whether sent_text differs from draft' }),
  model: Nullable(Type.String()),
  agent: Nullable(Type.String()),
  sent_by: Actor,
  created_at: Type.String({ format: 'date-time' }),
}, { $id: 'TrainingPair' });

const ListQuery = Type.Object({
  conversation_id: Type.Optional(Type.String({ maxLength: 100, description: 'only this conversation' })),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'only pairs recorded at or after this time' })),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('jsonl')], {
    description: '`jsonl`: every matching pair as JSON Lines (`limit` ignored); wins over `Accept`',
  })),
  ...PageQuery,
});

export function trainingPairView(row: TrainingPairRow): Static<typeof TrainingPair> {
  return {
    id: row.id, conversation_id: row.conversation_id, suggestion_id: row.suggestion_id, message_id: row.message_id,
    draft: row.draft, sent_text: row.sent_text, edited: row.edited === 1, model: row.model, agent: row.agent,
    sent_by: { member_id: row.sent_by_member_id, key_id: row.sent_by_key_id }, created_at: row.created_at,
  };
}

/**
 * Whether the client asked for JSON Lines: `format` when given, else an `Accept` header
 * that rates `application/x-ndjson` (or `application/jsonl`) above `application/json`
 * (RFC 9110 section 12.5.1 quality values; ties and wildcards go to JSON).
 */
export function wantsJsonLines(format: 'json' | 'jsonl' | undefined, accept: string | undefined): boolean {
  if (format !== undefined) return format === 'jsonl';
  let json = 0;
  let lines = 0;
  for (const range of (accept ?? '').split(',')) {
    const [type = '', ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!(q > 0)) continue;
    if (type === JSON_LINES || type === 'application/jsonl') lines = Math.max(lines, q);
    else if (type === 'application/json') json = Math.max(json, q);
  }
  return lines > json;
}

/** Every pair matching `q` (from its `afterId`), one JSON object per line, read EXPORT_BATCH at a time. */
async function* jsonLines(db: Db, q: Omit<TrainingPairQuery, 'limit'>): AsyncGenerator<string> {
  let afterId = q.afterId;
  for (;;) {
    const rows = await listTrainingPairs(db, { ...q, afterId, limit: EXPORT_BATCH });
    if (rows.length > 0) yield rows.map((r) => `${JSON.stringify(trainingPairView(r))}\n`).join('');
    if (rows.length < EXPORT_BATCH) return;
    afterId = rows.at(-1)!.id;
  }
}

export function trainingPairRoutes(app: Api, { store }: ApiContext): void {
  app.get('/v1/training_pairs', {
    config: { permission: 'training_pairs:read' },
    schema: {
      tags: ['suggestions'], summary: 'Training pairs (draft and sent text), oldest first; JSON pages or a JSON Lines export',
      querystring: ListQuery,
      response: {
        200: {
          description: 'a page of pairs, or with JSON Lines every matching pair, one object per line',
          content: {
            'application/json': { schema: Page(TrainingPair) },
            [JSON_LINES]: { schema: Type.Unsafe<Readable>({ type: 'string', description: 'JSON Lines: one TrainingPair object per line' }) },
          },
        },
        400: Problem, 401: Problem, 403: Problem,
      },
    },
  }, async (request, reply) => {
    const principal = principalOf(request);
    const { limit = DEFAULT_LIMIT, cursor, conversation_id: conversationId, since, format } = request.query;
    const query = {
      orgId: principal.orgId,
      identityId: identityScope(principal, undefined),
      conversationId,
      since: since === undefined ? undefined : instant(since, 'since'),
      afterId: cursor ? decodeCursor(cursor, { id: 'string' }).id as string : undefined,
    };
    const none = conversationId !== undefined && !isId('conv', conversationId);
    if (wantsJsonLines(format, request.headers.accept)) {
      reply.type(`${JSON_LINES}; charset=utf-8`);
      return reply.send(Readable.from(none ? [] : jsonLines(store.db, query)));
    }
    if (none) return { data: [], next_cursor: null, has_more: false };
    const rows = await listTrainingPairs(store.db, { ...query, limit: limit + 1 });
    return page(rows, limit, trainingPairView, (r) => ({ id: r.id }));
  });
}
