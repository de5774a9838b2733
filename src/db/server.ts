import pg from 'pg';
import type { Driver, DbRole, OwnerSession, QueryResult, Row, Sql, Statement } from './types.ts';

/** Distinct statement texts that become named prepared statements; the rest stay unnamed. */
const NAMED_STATEMENT_LIMIT = 256;

/**
 * Which statement texts run as named prepared statements: a text becomes one the second time it
 * succeeds (the app's statements are fixed strings; one-off texts never get a name). Each
 * connection then parses it once and later only binds and executes it. Names are per driver and
 * at most {@link NAMED_STATEMENT_LIMIT}, so a connection holds a bounded number of plans.
 */
class StatementNames {
  readonly #names = new Map<string, string | null>();
  #next = 0;

  name(text: string): string | undefined {
    return this.#names.get(text) ?? undefined;
  }

  succeeded(text: string): void {
    const known = this.#names.get(text);
    if (known !== undefined) {
      if (known === null && this.#next < NAMED_STATEMENT_LIMIT) this.#names.set(text, `palisade_${this.#next++}`);
    } else if (this.#names.size < NAMED_STATEMENT_LIMIT * 4) {
      this.#names.set(text, null);
    }
  }

  /**
   * A prepared plan whose result type changed under it (0A000 after a migration) is never used
   * again: the text gets a fresh name, so every connection parses it anew.
   */
  renamed(text: string): void {
    if (this.#names.get(text) != null) this.#names.set(text, null);
  }
}

/**
 * The handle a transaction's callback gets: one class rather than an object of closures made per
 * transaction (under tsx each closure is also renamed with Object.defineProperty, measurable on
 * this path). The connection stays private, so application code can only send statements.
 * Statements sent without awaiting the previous one are pipelined in order; the same text sent
 * twice at once before its first Parse is answered may fail (26000, and the connection is dropped),
 * so a callback awaits a statement before repeating it.
 */
class Lease implements Sql {
  readonly #client: pg.PoolClient;
  readonly #names: StatementNames;
  #broken = false;
  #ended = false;

  constructor(client: pg.PoolClient, names: StatementNames) {
    this.#client = client;
    this.#names = names;
  }

  /** Set when the connection's prepared statements no longer match the server (26000). */
  get broken(): boolean {
    return this.#broken;
  }

  markBroken(): void {
    this.#broken = true;
  }

  /** Once the transaction has ended its connection may serve another: this handle sends nothing more. */
  end(): void {
    this.#ended = true;
  }

  async query<R extends object = Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    return this.#send<R>(text, params, this.#names.name(text));
  }

  /** Transaction control and the role switch: never prepared, they gain nothing from it. */
  control(text: string): Promise<QueryResult> {
    return this.#send(text, [], undefined, false);
  }

  async #send<R extends object>(text: string, params: readonly unknown[], name: string | undefined, track = true): Promise<QueryResult<R>> {
    // A stray statement after the transaction (a callback that did not await everything) would
    // otherwise run inside whichever transaction holds the connection next, with its context.
    if (this.#ended) throw new Error('statement refused: its transaction has ended');
    // queryMode is honoured by pg ≥ 8.12 but missing from @types/pg: always the extended protocol,
    // even without parameters, so one call is one statement (no stacking).
    const config: pg.QueryConfig & { queryMode: 'extended'; name?: string } = { text, values: [...params], queryMode: 'extended' };
    if (name !== undefined) config.name = name;
    try {
      const result = await this.#client.query<R>(config);
      if (track) this.#names.succeeded(text);
      return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
    } catch (error) {
      if (name !== undefined) {
        const code = (error as { code?: unknown }).code;
        if (code === '0A000') this.#names.renamed(text);
        // The server forgot a statement this connection believes it prepared (DEALLOCATE), or a
        // parameter could not be encoded and pg closed the statement it still counts as prepared:
        // the connection is destroyed instead of going back to the pool.
        if (code === '26000' || !(error instanceof pg.DatabaseError)) this.#broken = true;
      }
      throw error;
    }
  }
}

/** Always the extended protocol, even without parameters: one statement per call, no stacking. */
function handle(client: pg.Client): Sql {
  return {
    async query<R extends object = Row>(text: string, params: readonly unknown[] = []) {
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
 * Runs `fn` with the connection's socket corked: the messages of every statement it issues leave
 * in one write (one system call, one wake-up of the backend) instead of one write per statement.
 */
function corked<T>(client: pg.PoolClient, fn: () => T): T {
  // `connection.stream` is node-postgres's socket; not in @types/pg.
  const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
  stream?.cork?.();
  try {
    return fn();
  } finally {
    stream?.uncork?.();
  }
}

/** Waits for every promise, then throws the first rejection (so none is left unhandled). */
async function allOrFirstError<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/**
 * A PostgreSQL server. Requests use a pool logged in as palisade_app (`DATABASE_URL`); migrations
 * and key registration use short-lived sessions as palisade_owner (`DATABASE_OWNER_URL`).
 *
 * Connections run in pipeline mode: statements issued together (BEGIN, the role switch and the
 * prelude) travel in one round trip, each with its own Sync, so an error still belongs to its own
 * statement and aborts the transaction for the ones behind it.
 */
export class ServerDriver implements Driver {
  readonly kind = 'server';
  readonly #pool: pg.Pool;
  readonly #ownerUrl: string | undefined;
  readonly #names = new StatementNames();

  /**
   * @param options.url connection string of the app's login role
   * @param options.ownerUrl connection string of palisade_owner; needed for migrations and withSystem
   * @param options.max pool size @default 10
   */
  constructor(options: { url: string; ownerUrl?: string; max?: number }) {
    // pipeline is honoured by pg ≥ 8.21 but missing from @types/pg.
    const config: pg.PoolConfig & { pipeline: boolean } = { connectionString: options.url, max: options.max ?? 10, pipeline: true };
    this.#pool = new pg.Pool(config);
    // An idle client that errors (server restart) must not crash the process; the pool drops it.
    this.#pool.on('error', () => undefined);
    this.#ownerUrl = options.ownerUrl;
  }

  async transaction<T>(
    role: DbRole,
    prelude: readonly Statement[],
    fn: (tx: Sql, prelude: readonly QueryResult[]) => Promise<T>,
  ): Promise<T> {
    const client = await this.#pool.connect();
    const lease = new Lease(client, this.#names);
    // The pool listens for errors of idle clients only. A connection lost while checked out but
    // between two statements (a server restart, pg_terminate_backend, while a streamed export
    // waits for its client) would be an unhandled 'error' event and end the process; with this
    // listener it surfaces as the next statement's error, and the transaction fails as usual.
    client.on('error', ignoreLostConnection);
    try {
      // One round trip: BEGIN, the role switch (role names come from the DbRole union, never from
      // input) and the prelude, pipelined and written to the socket at once.
      const head = corked(client, () => {
        const sent: Promise<QueryResult>[] = [lease.control('BEGIN')];
        if (role !== 'palisade_app') sent.push(lease.control(`SET LOCAL ROLE ${role}`));
        for (const statement of prelude) sent.push(lease.query(statement.text, statement.params));
        return sent;
      });
      const results = await allOrFirstError(head);
      const result = await fn(lease, results.slice(results.length - prelude.length));
      lease.end();
      await commit(client);
      release(client, lease.broken);
      return result;
    } catch (error) {
      lease.end();
      try {
        if (!lease.broken) await client.query('ROLLBACK');
      } catch {
        // The connection is unusable: destroy it rather than hand it to the next request.
        lease.markBroken();
      }
      release(client, lease.broken);
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

/**
 * COMMIT, which PostgreSQL answers with ROLLBACK when the transaction had failed (a statement's
 * error swallowed by the caller): that is an error here, never a silent loss of the writes.
 */
async function commit(client: pg.PoolClient): Promise<void> {
  const result = await client.query('COMMIT');
  if (result.command === 'ROLLBACK') {
    throw Object.assign(new Error('the transaction had failed and was rolled back at COMMIT'), { code: '25P02' });
  }
}

function release(client: pg.PoolClient, destroy: boolean): void {
  client.removeListener('error', ignoreLostConnection);
  client.release(destroy ? true : undefined);
}
