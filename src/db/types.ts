export type Row = Record<string, unknown>;

export interface QueryResult<R extends object = Row> {
  rows: R[];
  /** Rows inserted, updated, deleted or returned by the statement. */
  rowCount: number;
}

/**
 * A handle that runs one parameterised statement at a time. Both drivers send every query through
 * the extended protocol, so a string with two statements (`…; select set_config(…)`) is refused
 * by PostgreSQL itself rather than silently run.
 */
export interface Sql {
  query<R extends object = Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** One parameterised statement. */
export interface Statement {
  text: string;
  params: readonly unknown[];
}

/** Which database role a transaction runs as. */
export type DbRole = 'palisade_app' | 'palisade_system' | 'palisade_anon';

/**
 * The low-level connection layer under {@link Database}. Drivers know how to open a transaction as
 * a given role and how to run privileged (owner/admin) scripts; they know nothing about tenants.
 */
export interface Driver {
  readonly kind: 'embedded' | 'server';
  /**
   * Runs `fn` in one transaction as `role`. `prelude` statements run first, before `fn` sees the
   * handle (role switch, context, session check), and `fn` receives their results in order. On a
   * server BEGIN, the role switch and the prelude go out in one round trip (pipelined); the first
   * that fails fails the transaction. Commits when `fn` resolves, rolls back when it throws.
   */
  transaction<T>(
    role: DbRole,
    prelude: readonly Statement[],
    fn: (tx: Sql, prelude: readonly QueryResult[]) => Promise<T>,
  ): Promise<T>;
  /** An owner session for migrations and key registration; closed by the caller. */
  owner(): Promise<OwnerSession>;
  close(): Promise<void>;
}

/** A single session as palisade_owner. `script` runs multi-statement SQL (migrations only). */
export interface OwnerSession extends Sql {
  script(text: string): Promise<void>;
  release(): Promise<void>;
}
