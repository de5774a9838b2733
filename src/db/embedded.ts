import { PGlite, types } from '@electric-sql/pglite';
import type { Driver, DbRole, OwnerSession, QueryResult, Row, Sql, Statement } from './types.ts';

/**
 * Statements that change who the session is. PGlite runs one backend whose session user is the
 * WASM build's superuser, so unlike on a server PostgreSQL would allow `SET ROLE palisade_owner` or
 * `RESET ROLE` after our `SET LOCAL ROLE palisade_app`. On the app's handle we refuse them before
 * they reach the database. (On a server the app logs in as palisade_app and PostgreSQL refuses.)
 * `DO` blocks are refused by the database in both modes (no USAGE on plpgsql).
 */
const ROLE_CHANGE =
  /^\s*(?:(?:\/\*[\s\S]*?\*\/|--[^\n]*\n)\s*)*(?:set\s+(?:(?:local|session)\s+)?(?:role|session\s+authorization)\b|reset\s+(?:role|session\s+authorization|all)\b|set\s+(?:local\s+|session\s+)?"?role"?\s*(?:=|to)|set\s+session\s+characteristics|begin\b|start\s+transaction|commit\b|end\b|rollback\b|abort\b)/i;

export class RoleChangeRefused extends Error {
  readonly code = '42501';
  constructor() {
    super('statement refused: the app role may not change roles or end its transaction');
  }
}

/**
 * Values typed as node-postgres returns them, so code and tests see one shape on both drivers:
 * int8 and numeric as strings (no silent precision loss), bytea as a Buffer (text form `\x…`).
 */
const parsers = {
  [types.INT8]: (value: string) => value,
  [types.NUMERIC]: (value: string) => value,
  [types.BYTEA]: (value: string) => Buffer.from(value.slice(2), 'hex'),
};

function normalise<R extends object>(result: { rows: R[]; affectedRows?: number }): QueryResult<R> {
  // PGlite reports affectedRows = 0 for a SELECT; pg's rowCount counts the rows returned.
  return { rows: result.rows, rowCount: Math.max(result.rows.length, result.affectedRows ?? 0) };
}

interface PGliteQueryable {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
}

function handle(target: PGliteQueryable, guard: boolean): Sql {
  return {
    async query<R extends object = Row>(text: string, params: readonly unknown[] = []) {
      if (guard && ROLE_CHANGE.test(text)) throw new RoleChangeRefused();
      return normalise<R>(await target.query<R>(text, [...params]));
    },
  };
}

/** PGlite in a data folder (or in memory when `dataDir` is undefined). */
export class EmbeddedDriver implements Driver {
  readonly kind = 'embedded';
  readonly #pg: PGlite;
  #ownerTurn: Promise<void> = Promise.resolve();

  private constructor(pg: PGlite) {
    this.#pg = pg;
  }

  /**
   * @param options.dataDir folder for the database files; in memory when omitted
   * @param options.loadDataDir a tarball from {@link EmbeddedDriver.dump} to start from (tests)
   */
  static async open(options: { dataDir?: string; loadDataDir?: Blob }): Promise<EmbeddedDriver> {
    const pg = new PGlite({
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.loadDataDir === undefined ? {} : { loadDataDir: options.loadDataDir }),
      parsers,
    });
    await pg.waitReady;
    return new EmbeddedDriver(pg);
  }

  async transaction<T>(
    role: DbRole,
    prelude: readonly Statement[],
    fn: (tx: Sql, prelude: readonly QueryResult[]) => Promise<T>,
  ): Promise<T> {
    return this.#pg.transaction(async (tx) => {
      // Role names come from the DbRole union, never from input.
      await tx.query(`SET LOCAL ROLE ${role}`);
      const results: QueryResult[] = [];
      for (const statement of prelude) results.push(normalise(await tx.query<Row>(statement.text, [...statement.params])));
      return fn(handle(tx, true), results);
    });
  }

  /**
   * One owner session at a time: PGlite has a single connection, so a second session (a
   * concurrent migrate) waits until the first is released instead of interleaving with it.
   */
  async owner(): Promise<OwnerSession> {
    const previous = this.#ownerTurn;
    let done: () => void = () => undefined;
    this.#ownerTurn = new Promise<void>((resolve) => {
      done = resolve;
    });
    await previous;
    const pg = this.#pg;
    await pg.exec('SET ROLE palisade_owner');
    return {
      ...handle(pg, false),
      async script(text: string) {
        await pg.exec(text);
      },
      async release() {
        try {
          await pg.exec('RESET ROLE');
        } finally {
          done();
        }
      },
    };
  }

  /** Superuser access for the bootstrap and for tests that play a database administrator. */
  admin(): Sql & { script(text: string): Promise<void> } {
    const pg = this.#pg;
    return {
      ...handle(pg, false),
      async script(text: string) {
        await pg.exec(text);
      },
    };
  }

  /** The whole database as a tarball, to start other instances from (test templates). */
  async dump(): Promise<Blob> {
    return this.#pg.dumpDataDir('none');
  }

  /** Idempotent: a second close (test teardown paths that share a driver) does nothing. */
  async close(): Promise<void> {
    if (this.#pg.closed) return;
    await this.#pg.close();
  }
}
