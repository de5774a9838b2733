/**
 * Column-level masking by permission (ISO-7). A module declares which fields of its responses are
 * sensitive and the permission that reveals each one; responses (and exports) pass their rows
 * through the mask, which drops the fields the caller may not see. The caller's permissions come
 * from the request's actor, recomputed whenever the workspace's access version moves, so a role
 * taken away narrows the very next response.
 *
 * Fields are omitted, not nulled: "absent" cannot be mistaken for "empty", and a client cannot
 * tell a hidden value from a field that does not exist.
 */

/** Sensitive field name → the permission that reveals it. */
export type SensitiveFields = Readonly<Record<string, string>>;

/** Whoever a response is for: anything that answers which permissions it holds (an Actor). */
export interface Viewer {
  can(permission: string): boolean;
}

/** `T` with the sensitive fields made optional: present only for callers allowed to see them. */
export type Masked<T, F extends SensitiveFields> = Omit<T, keyof F> & Partial<Pick<T, Extract<keyof T, keyof F>>>;

export interface FieldMask<F extends SensitiveFields> {
  readonly fields: F;
  /** The sensitive fields `viewer` may not see. */
  hidden(viewer: Viewer): (keyof F & string)[];
  /** A copy of `row` without the fields `viewer` may not see. */
  apply<T extends object>(viewer: Viewer, row: T): Masked<T, F>;
  /** {@link FieldMask.apply} for each row (the permission check runs once). */
  applyAll<T extends object>(viewer: Viewer, rows: readonly T[]): Masked<T, F>[];
}

const PERMISSION = /^[a-z][a-z_]*(\.[a-z][a-z_]*)+$/;

/**
 * Declares a module's sensitive fields: `defineFieldMask({ payeeBankRef: 'expenses.read_bank_details' })`.
 * Check the permissions against the app's catalog with {@link assertMaskPermissions} when the
 * routes register, so a misspelt permission stops the app instead of hiding a field from everyone.
 */
export function defineFieldMask<const F extends SensitiveFields>(fields: F): FieldMask<F> {
  for (const [field, permission] of Object.entries(fields)) {
    if (!PERMISSION.test(permission)) throw new Error(`sensitive field ${field}: ${JSON.stringify(permission)} is not a permission id`);
  }
  const entries = Object.entries(fields);
  const hidden = (viewer: Viewer) => entries.filter(([, permission]) => !viewer.can(permission)).map(([field]) => field as keyof F & string);
  const strip = <T extends object>(row: T, drop: readonly string[]): Masked<T, F> => {
    if (drop.length === 0) return { ...row };
    return Object.fromEntries(Object.entries(row).filter(([key]) => !drop.includes(key))) as Masked<T, F>;
  };
  return {
    fields,
    hidden,
    apply: (viewer, row) => strip(row, hidden(viewer)),
    applyAll: (viewer, rows) => {
      const drop = hidden(viewer);
      return rows.map((row) => strip(row, drop));
    },
  };
}

/** Throws unless every permission the mask names is in the catalog. */
export function assertMaskPermissions(mask: { readonly fields: SensitiveFields }, catalog: { has(permission: string): boolean }): void {
  for (const [field, permission] of Object.entries(mask.fields)) {
    if (!catalog.has(permission)) throw new Error(`sensitive field ${field} is revealed by unknown permission ${permission}`);
  }
}
