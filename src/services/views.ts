/**
 * Views (SPEC section 6, "Inbox"): the built-in ones and the organization's saved
 * filters, read as one list, and the commands that create, change and delete saved
 * ones. A built-in view cannot be changed or deleted (409 `view_builtin`).
 *
 * The filter is kept as the caller sent it (the list's filter parameters) and resolved
 * for each caller when read, so `assigned_to: "me"` means whoever reads the view.
 */
import type { ConversationFilterParams } from '../api/conversation-filter.js';
import type { Clock } from '../clock.js';
import { BUILTIN_VIEWS, builtinView } from '../domain/views.js';
import { AppError, notFound } from '../errors.js';
import { isId, newId } from '../ids.js';
import { inOrgTransaction, nextSeqs } from '../store/sequences.js';
import type { Db, Store } from '../store/store.js';
import { countViews, deleteView, findView, insertView, listViews, updateView, type ViewRow } from '../store/views.js';

/** Most saved views an organization can have (counts run one query per view). */
export const MAX_VIEWS = 100;

/** A built-in or saved view as the API shows it. */
export interface View {
  readonly id: string;
  readonly name: string;
  readonly builtin: boolean;
  readonly filter: ConversationFilterParams;
  /** null for built-in views. */
  readonly created_at: string | null;
  readonly updated_at: string | null;
}

export interface ViewInput {
  readonly name: string;
  readonly filter: ConversationFilterParams;
}

function fromRow(row: ViewRow): View {
  return {
    id: row.id, name: row.name, builtin: false, filter: JSON.parse(row.filter) as ConversationFilterParams,
    created_at: row.created_at, updated_at: row.updated_at,
  };
}

const builtinOf = (id: string): View | undefined => {
  const b = builtinView(id);
  return b && { id: b.id, name: b.name, builtin: true, filter: { ...b.filter }, created_at: null, updated_at: null };
};

/** Every view of the org: the built-in ones first, then the saved ones, oldest first. */
export async function allViews(db: Db, orgId: string): Promise<View[]> {
  const saved = await listViews(db, orgId);
  return [...BUILTIN_VIEWS.map((b) => builtinOf(b.id)!), ...saved.map(fromRow)];
}

/**
 * A built-in view, or a saved view of the org.
 *
 * @throws AppError `not_found` (malformed, missing and foreign ids alike), with `param`.
 */
export async function findAnyView(db: Db, orgId: string, id: string, param?: string): Promise<View> {
  const builtin = builtinOf(id);
  if (builtin) return builtin;
  const row = isId('view', id) ? await findView(db, orgId, id) : undefined;
  if (!row) throw new AppError('not_found', 'No view with that id.', { param, fix: 'List the views with GET /v1/views.' });
  return fromRow(row);
}

function refuseBuiltin(id: string): void {
  const b = builtinView(id);
  if (b) throw new AppError('view_builtin', `${b.name} (${b.id}) is a built-in view; it cannot be changed or deleted.`);
}

/**
 * Saves a view.
 *
 * @throws AppError `view_limit_reached` when the org has {@link MAX_VIEWS} already.
 */
export async function createView(store: Store, orgId: string, input: ViewInput, clock: Clock): Promise<View> {
  const now = new Date(clock.now()).toISOString();
  return store.transaction(async (tx) => {
    // The org's write lock: two creates cannot both pass the limit.
    await nextSeqs(tx, orgId, 0);
    if (await countViews(tx, orgId) >= MAX_VIEWS) {
      throw new AppError('view_limit_reached', `This organization has ${MAX_VIEWS} saved views, the most it can have.`);
    }
    const row: ViewRow = { id: newId('view'), org_id: orgId, name: input.name, filter: JSON.stringify(input.filter), created_at: now, updated_at: now };
    await insertView(tx, row);
    return fromRow(row);
  });
}

/**
 * Changes a saved view's name, filter or both (a filter given replaces the old one).
 *
 * @throws AppError `view_builtin`, `not_found`, `no_valid_fields`.
 */
export async function changeView(store: Store, orgId: string, id: string, patch: Partial<ViewInput>, clock: Clock): Promise<View> {
  refuseBuiltin(id);
  const current = await findAnyView(store.db, orgId, id);
  if (patch.name === undefined && patch.filter === undefined) {
    throw new AppError('no_valid_fields', 'The body changes nothing: send `name` or `filter`.');
  }
  const set = {
    name: patch.name ?? current.name,
    filter: JSON.stringify(patch.filter ?? current.filter),
    updated_at: new Date(clock.now()).toISOString(),
  };
  // Under the org lock, as every write of what counts show: it bumps the org's version (api/read-cache.ts).
  if (!await inOrgTransaction(store, orgId, (tx) => updateView(tx, orgId, id, set))) throw notFound('view');
  return { ...current, name: set.name, filter: JSON.parse(set.filter) as ConversationFilterParams, updated_at: set.updated_at };
}

/**
 * Deletes a saved view.
 *
 * @throws AppError `view_builtin`, `not_found`.
 */
export async function removeView(store: Store, orgId: string, id: string): Promise<void> {
  refuseBuiltin(id);
  if (!isId('view', id) || !await inOrgTransaction(store, orgId, (tx) => deleteView(tx, orgId, id))) throw notFound('view');
}
