/**
 * Saved views (custom conversation filters) of an organization. Every query is scoped
 * by organization. The filter is stored as JSON text and parsed by the caller.
 */
import type { Selectable } from 'kysely';
import type { ViewsTable } from './schema.js';
import type { Db } from './store.js';

export type ViewRow = Selectable<ViewsTable>;

/** A saved view of the org, or undefined (missing and foreign look the same). */
export async function findView(db: Db, orgId: string, id: string): Promise<ViewRow | undefined> {
  return db.selectFrom('views').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

/** Every saved view of the org, oldest first (ids are time-sortable). */
export async function listViews(db: Db, orgId: string): Promise<ViewRow[]> {
  return db.selectFrom('views').selectAll().where('org_id', '=', orgId).orderBy('id').execute();
}

/** How many saved views the org has. */
export async function countViews(db: Db, orgId: string): Promise<number> {
  const row = await db.selectFrom('views').select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('org_id', '=', orgId).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertView(db: Db, row: ViewRow): Promise<void> {
  await db.insertInto('views').values(row).execute();
}

/** Changes a view's name and filter; @returns whether a row of the org changed. */
export async function updateView(db: Db, orgId: string, id: string, set: Pick<ViewRow, 'name' | 'filter' | 'updated_at'>): Promise<boolean> {
  const result = await db.updateTable('views').set(set).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** @returns whether a row of the org was deleted. */
export async function deleteView(db: Db, orgId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('views').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
