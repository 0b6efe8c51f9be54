/**
 * The built-in views (SPEC section 6, "Inbox"): every organization has them, they are
 * not rows and cannot be changed or deleted. Their ids are reserved words with the
 * `view_` prefix, not TypeIDs, so they never collide with a saved view's id.
 *
 * A view's filter is the conversation list's filter parameters (`GET /v1/conversations`),
 * so a built-in view is exactly the list with those parameters.
 */

/** The filter parameters the built-in views use (a subset of the list's). */
export interface BuiltinViewFilter {
  readonly unread?: boolean;
  readonly archived?: boolean;
  readonly starred?: boolean;
}

export interface BuiltinView {
  readonly id: string;
  readonly name: string;
  readonly filter: BuiltinViewFilter;
}

/**
 * In the order clients show them.
 *
 * - Unread: not archived, with unread messages.
 * - Recents: not archived (the inbox), newest activity first like every list. It has no
 *   time window: a moving `since` would make the view's filter depend on the clock.
 * - Starred: starred, archived or not.
 * - All: everything, archived included.
 *
 * None shows conversations whose sender a contact rule blocks (no list does unless
 * asked with `is_blocked`).
 */
export const BUILTIN_VIEWS: readonly BuiltinView[] = [
  { id: 'view_unread', name: 'Unread', filter: { unread: true, archived: false } },
  { id: 'view_recents', name: 'Recents', filter: { archived: false } },
  { id: 'view_starred', name: 'Starred', filter: { starred: true } },
  { id: 'view_all', name: 'All', filter: {} },
];

/** The built-in view with this id, or undefined. */
export function builtinView(id: string): BuiltinView | undefined {
  return BUILTIN_VIEWS.find((v) => v.id === id);
}
