import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Driver, QueryResult, Row, Sql, Statement } from './types.ts';

/** Who is acting, and where: set transaction-locally for every tenant-scoped transaction (ISO-2). */
export interface WorkspaceContext {
  workspaceId: string;
  userId?: string | null;
  /** The actor's e-mail and role, recorded with every audit event of the transaction. */
  userEmail?: string | null;
  userRole?: string | null;
  sessionId?: string | null;
  deviceId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  /** Menu or route, for the audit trail, e.g. `GET /api/v1/workspaces/:workspaceId/settings`. */
  route?: string | null;
}

/** What a request presents: its session token's hash, and the workspace its route names. */
export interface RequestCredentials {
  tokenHash: Buffer;
  workspaceId: string | null;
  ip: string | null;
  userAgent: string | null;
  route: string | null;
  idleTimeoutSeconds: number;
  privilegedMaxAgeSeconds: number;
}

/** The authenticated actor of a request, as palisade.begin_request found it. */
export interface Principal {
  userId: string;
  email: string;
  /** The role in the requested workspace; null for requests outside a workspace. */
  role: 'owner' | 'admin' | 'member' | null;
  sessionId: string;
  sessionCreatedAt: Date;
  /**
   * The workspace's access version (moves with every role, assignment or membership change);
   * null outside a workspace. Cached permission sets are keyed by it.
   */
  accessVersion: string | null;
}

/** The session may not proceed; `reason` is a stable code (SESSION_REVOKED, ROLE_CHANGED, …). */
export class SessionRejected extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`session rejected: ${reason}`);
    this.name = 'SessionRejected';
    this.reason = reason;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REASON = /^[\w .:/-]{1,200}$/;

/**
 * The only way application code reaches PostgreSQL.
 *
 * - {@link Database.query}: a plain statement as palisade_app with no workspace. RLS shows it no
 *   workspace data at all: a forgotten tenant scope fails closed.
 * - {@link Database.withWorkspace}: one transaction bound to one workspace and actor.
 * - {@link Database.withSystem}: the cross-workspace path, needing this process's secret key.
 * - {@link Database.withAnonymous}: unauthenticated work (health checks) as palisade_anon.
 */
export class Database {
  readonly #driver: Driver;
  /**
   * 256 random bits made when this process opened the database; PostgreSQL knows only its
   * SHA-256. It lives in this private field and is passed to PostgreSQL only by withSystem().
   */
  readonly #systemKey: string;

  private constructor(driver: Driver, systemKey: string) {
    this.#driver = driver;
    this.#systemKey = systemKey;
  }

  /**
   * Wraps a migrated driver: generates the process key and registers its hash through an owner
   * session (which is closed again: requests never hold owner rights).
   */
  static async open(driver: Driver): Promise<Database> {
    const key = randomBytes(32).toString('base64url');
    const owner = await driver.owner();
    try {
      await owner.query(
        'INSERT INTO palisade_private.system_keys (key_hash, pid, host) VALUES ($1, $2, $3)',
        [createHash('sha256').update(key, 'utf8').digest(), process.pid, hostname()],
      );
    } finally {
      await owner.release();
    }
    return new Database(driver, key);
  }

  get kind(): Driver['kind'] {
    return this.#driver.kind;
  }

  /** One statement as palisade_app with no workspace context. */
  async query<R extends object = Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    return this.#driver.transaction('palisade_app', [], (tx) => tx.query<R>(text, params));
  }

  /**
   * Runs `fn` in one transaction whose workspace and actor are set with `set_config(…, true)`
   * (transaction-local, through palisade.set_context). Commits when `fn` resolves, rolls back
   * when it throws. The context is set in the same round trip that follows BEGIN.
   */
  async withWorkspace<T>(ctx: WorkspaceContext, fn: (tx: Sql) => Promise<T>): Promise<T> {
    if (!UUID.test(ctx.workspaceId)) {
      throw new TypeError(`workspaceId must be a UUID, got ${JSON.stringify(ctx.workspaceId)}`);
    }
    if (ctx.userId != null && !UUID.test(ctx.userId)) {
      throw new TypeError(`userId must be a UUID, got ${JSON.stringify(ctx.userId)}`);
    }
    return this.#driver.transaction(
      'palisade_app',
      [
        {
          text: 'SELECT palisade.set_context($1, $2, $3, $4, $5, $6, $7, $8, $9)',
          params: [
            ctx.workspaceId,
            ctx.userId ?? null,
            ctx.userEmail ?? null,
            ctx.userRole ?? null,
            ctx.sessionId ?? null,
            ctx.deviceId ?? null,
            ctx.ip ?? null,
            ctx.userAgent ?? null,
            ctx.route ?? null,
          ],
        },
      ],
      fn,
    );
  }

  /**
   * Runs `fn` in one transaction for an authenticated request. The statement after BEGIN,
   * palisade.begin_request(), validates the session, user, membership and every revocation
   * cut-off and sets the context, all at once (AUTH-7): a revoked session fails here, on the very
   * next request, with {@link SessionRejected}.
   */
  async withRequest<T>(
    credentials: RequestCredentials,
    fn: (tx: Sql, principal: Principal) => Promise<T>,
    options: { systemReason?: string } = {},
  ): Promise<T> {
    if (credentials.workspaceId !== null && !UUID.test(credentials.workspaceId)) {
      throw new TypeError(`workspaceId must be a UUID, got ${JSON.stringify(credentials.workspaceId)}`);
    }
    const reason = options.systemReason;
    if (reason !== undefined && !REASON.test(reason)) throw new TypeError(`bad system reason ${JSON.stringify(reason)}`);
    // Account-level actions of a signed-in user (their sessions, their password) run through the
    // bypass, after the same session check: the actor is then stamped on every event they cause.
    const role = reason === undefined ? 'palisade_app' : 'palisade_system';
    const prelude: Statement[] = reason === undefined ? [] : [{ text: 'SELECT palisade.enter_system($1, $2)', params: [this.#systemKey, reason] }];
    // The session check goes out with BEGIN (and the bypass) in one round trip.
    prelude.push({
      text: 'SELECT user_id, email, role, session_id, session_created_at, access_version FROM palisade.begin_request($1, $2, $3, $4, $5, $6, $7)',
      params: [
        credentials.tokenHash,
        credentials.workspaceId,
        credentials.ip,
        credentials.userAgent,
        credentials.route,
        credentials.idleTimeoutSeconds,
        credentials.privilegedMaxAgeSeconds,
      ],
    });
    try {
      return await this.#driver.transaction(role, prelude, async (tx, results) => {
        const row = results.at(-1)?.rows[0] as
          | { user_id: string; email: string; role: Principal['role']; session_id: string; session_created_at: Date; access_version: string | null }
          | undefined;
        if (row === undefined) throw new SessionRejected('SESSION_INVALID');
        return fn(tx, {
          userId: row.user_id,
          email: row.email,
          role: row.role,
          sessionId: row.session_id,
          sessionCreatedAt: row.session_created_at,
          accessVersion: row.access_version,
        });
      });
    } catch (error) {
      const e = error as { code?: unknown; message?: unknown };
      if (e.code === '28000' && typeof e.message === 'string' && /^[A-Z_]+$/.test(e.message)) throw new SessionRejected(e.message);
      throw error;
    }
  }

  /**
   * The only cross-workspace path (ISO-4). Runs `fn` as palisade_system, whose policies admit
   * rows only while this process's key is presented; the use is logged with `reason`.
   * @param reason why the bypass is needed, e.g. `bootstrap: create first workspace`
   */
  async withSystem<T>(reason: string, fn: (tx: Sql) => Promise<T>): Promise<T> {
    if (!REASON.test(reason)) {
      throw new TypeError(`reason must be 1-200 word characters, spaces or .:/-, got ${JSON.stringify(reason)}`);
    }
    return this.#driver.transaction(
      'palisade_system',
      [{ text: 'SELECT palisade.enter_system($1, $2)', params: [this.#systemKey, reason] }],
      fn,
    );
  }

  /** Runs `fn` as palisade_anon, which can read no data at all. */
  async withAnonymous<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.#driver.transaction('palisade_anon', [], fn);
  }

  /** Unregisters this process's key, then closes the connections. */
  async close(): Promise<void> {
    try {
      const owner = await this.#driver.owner();
      try {
        await owner.query('DELETE FROM palisade_private.system_keys WHERE key_hash = $1', [
          createHash('sha256').update(this.#systemKey, 'utf8').digest(),
        ]);
      } finally {
        await owner.release();
      }
    } finally {
      await this.#driver.close();
    }
  }
}
