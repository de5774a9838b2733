import pg from 'pg';
import type { Driver, DbRole, OwnerSession, QueryResult, Row, Sql } from './types.ts';

/** Always the extended protocol, even without parameters: one statement per call, no stacking. */
function handle(client: pg.PoolClient | pg.Client): Sql {
  return {
    async query<R extends object = Row>(text: string, params: readonly unknown[] = []) {
      // queryMode is honoured by pg ≥ 8.12 but missing from @types/pg.
      const config: pg.QueryConfig & { queryMode: 'extended' } = { text, values: [...params], queryMode: 'extended' };
      const result = await client.query<R>(config);
      return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length } satisfies QueryResult<R>;
    },
  };
}

function ignoreLostConnection(): void {
  // Reported by the next query on the client; see ServerDriver.transaction.
}

/**
 * A PostgreSQL server. Requests use a pool logged in as palisade_app (`DATABASE_URL`); migrations
 * and key registration use short-lived sessions as palisade_owner (`DATABASE_OWNER_URL`).
 */
export class ServerDriver implements Driver {
  readonly kind = 'server';
  readonly #pool: pg.Pool;
  readonly #ownerUrl: string | undefined;

  /**
   * @param options.url connection string of the app's login role
   * @param options.ownerUrl connection string of palisade_owner; needed for migrations and withSystem
   * @param options.max pool size @default 10
   */
  constructor(options: { url: string; ownerUrl?: string; max?: number }) {
    this.#pool = new pg.Pool({ connectionString: options.url, max: options.max ?? 10 });
    // An idle client that errors (server restart) must not crash the process; the pool drops it.
    this.#pool.on('error', () => undefined);
    this.#ownerUrl = options.ownerUrl;
  }

  async transaction<T>(
    role: DbRole,
    prelude: readonly { text: string; params: readonly unknown[] }[],
    fn: (tx: Sql) => Promise<T>,
  ): Promise<T> {
    const client = await this.#pool.connect();
    // The pool listens for errors of idle clients only. A connection lost while checked out but
    // between two statements (a server restart, pg_terminate_backend, while a streamed export
    // waits for its client) would be an unhandled 'error' event and end the process; with this
    // listener it surfaces as the next statement's error, and the transaction fails as usual.
    client.on('error', ignoreLostConnection);
    try {
      await client.query('BEGIN');
      // Role names come from the DbRole union, never from input.
      if (role !== 'palisade_app') await client.query(`SET LOCAL ROLE ${role}`);
      const tx = handle(client);
      for (const statement of prelude) await tx.query(statement.text, statement.params);
      const result = await fn(tx);
      await client.query('COMMIT');
      client.removeListener('error', ignoreLostConnection);
      client.release();
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
        client.removeListener('error', ignoreLostConnection);
        client.release();
      } catch (rollbackError) {
        // The connection is unusable: destroy it rather than hand it to the next request.
        client.removeListener('error', ignoreLostConnection);
        client.release(rollbackError instanceof Error ? rollbackError : true);
      }
      throw error;
    }
  }

  async owner(): Promise<OwnerSession> {
    if (this.#ownerUrl === undefined) {
      throw new Error('DATABASE_OWNER_URL is not set: migrations and withSystem need the owner role');
    }
    const client = new pg.Client({ connectionString: this.#ownerUrl });
    await client.connect();
    return {
      ...handle(client),
      async script(text: string) {
        await client.query(text);
      },
      async release() {
        await client.end();
      },
    };
  }

  /** Idempotent: a second close (test teardown paths that share a driver) does nothing. */
  async close(): Promise<void> {
    if (this.#pool.ended) return;
    await this.#pool.end();
  }
}
