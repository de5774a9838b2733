import { AccessDenied, requirePermission, type AccessControl, type Actor } from '../access/control.ts';
import type { RouteAccess, SystemRole } from '../access/catalog.ts';
import { PLATFORM_WORKSPACE } from '../audit/chain.ts';
import { recordEvent } from '../audit/events.ts';
import { SessionRejected, type Database, type Principal, type RequestCredentials } from '../db/database.ts';
import type { Sql } from '../db/types.ts';
import { errorsOf, type AppError } from '../kernel/errors.ts';
import { queueMail } from '../notify/outbox.ts';
import { identityErrors, type IdentityErrorCode } from './errors.ts';
import { csrfTokenFor, hashToken, issueToken, isWellFormedToken, normalizeEmail } from './tokens.ts';

const fail = errorsOf(identityErrors);

export type MemberRole = SystemRole;

/** Password rules and hashing, as the identity service needs them. */
export interface PasswordService {
  /** null when acceptable, else the problems (codes) to report. */
  problems(password: string, context: { email: string; name?: string }): Promise<string[] | null>;
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Spends the time of one verify, for unknown accounts (no timing oracle on e-mails). */
  dummyVerify(password: string): Promise<void>;
}

export interface IdentityOptions {
  /** Where users reach Palisade, e.g. http://localhost:3000: links in mails, allowed Origin. */
  publicUrl: string;
  sessionMaxAgeSeconds: number;
  privilegedMaxAgeSeconds: number;
  idleTimeoutSeconds: number;
  lockoutThreshold: number;
  lockoutSeconds: number;
  invitationTtlSeconds: number;
  resetTtlSeconds: number;
}

export interface IdentityDeps {
  db: Database;
  options: IdentityOptions;
  passwords: PasswordService;
  /** Called after a commit that queued mail, so it leaves now rather than at the next poll. */
  mailQueued: () => void;
  access: AccessControl;
}

/** Where a request comes from, as the HTTP layer saw it. */
export interface Client {
  ip: string | null;
  userAgent: string | null;
  route: string | null;
  /** What the route requires (its config.access), checked once the session is. */
  access?: RouteAccess;
}

export interface NewSession {
  token: string;
  csrfToken: string;
  sessionId: string;
  expiresAt: Date;
  userId: string;
}

function credentials(deps: Pick<IdentityDeps, 'options'>, token: string, workspaceId: string | null, client: Client): RequestCredentials {
  return {
    tokenHash: hashToken(token),
    workspaceId,
    ip: client.ip,
    userAgent: client.userAgent,
    route: client.route,
    idleTimeoutSeconds: deps.options.idleTimeoutSeconds,
    privilegedMaxAgeSeconds: deps.options.privilegedMaxAgeSeconds,
  };
}

/**
 * Runs a request's transaction after the session check; a rejected session becomes the public
 * error of its reason (401 SESSION_REVOKED, ROLE_CHANGED, … or 404 NOT_A_MEMBER).
 */
async function withSession<T>(
  deps: Pick<IdentityDeps, 'db'>,
  creds: RequestCredentials,
  fn: (tx: Sql, p: Principal) => Promise<T>,
  options: { systemReason?: string } = {},
): Promise<T> {
  try {
    return await deps.db.withRequest(creds, fn, options);
  } catch (error) {
    if (error instanceof SessionRejected && error.reason in identityErrors) throw fail(error.reason as IdentityErrorCode);
    throw error;
  }
}

/**
 * A workspace request: the session check, then the member's effective permissions, then the
 * route's permission (ACC-1), then `fn`. A refusal — the route's permission or any rule `fn`
 * applies (AccessDenied) — rolls the work back, is recorded in the audit trail in a transaction
 * of its own, and becomes 403 FORBIDDEN naming the rule and permission (ACC-7).
 */
type RequestDeps = Pick<IdentityDeps, 'db' | 'options' | 'access'>;

async function asMember<T>(
  deps: RequestDeps,
  token: string,
  workspaceId: string,
  client: Client,
  fn: (tx: Sql, actor: Actor) => Promise<T>,
  options: { systemReason?: string } = {},
): Promise<T> {
  let actor: Actor | undefined;
  try {
    return await withSession(deps, credentials(deps, token, workspaceId, client), async (tx, p) => {
      actor = await deps.access.actor(tx, p, workspaceId);
      const required = client.access;
      if (required !== undefined && required !== 'public' && required !== 'signed-in') requirePermission(actor, required);
      return fn(tx, actor);
    }, options);
  } catch (error) {
    if (!(error instanceof AccessDenied) || actor === undefined) throw error;
    await recordDenial(deps, actor, client, error);
    throw fail('FORBIDDEN', error.message, { rule: error.rule, ...(error.permission === undefined ? {} : { permission: error.permission }) });
  }
}

async function recordDenial(deps: RequestDeps, actor: Actor, client: Client, denial: AccessDenied): Promise<void> {
  await deps.db.withWorkspace(
    {
      workspaceId: actor.workspaceId,
      userId: actor.userId,
      userEmail: actor.email,
      userRole: actor.systemRole,
      sessionId: actor.sessionId,
      ip: client.ip,
      userAgent: client.userAgent,
      route: client.route,
    },
    (tx) => recordEvent(tx, {
      eventType: 'access.denied',
      action: 'DENY',
      ...(denial.record === undefined ? {} : { tableName: denial.record.table, recordId: denial.record.id }),
      newValues: { rule: denial.rule, ...(denial.permission === undefined ? {} : { permission: denial.permission }), detail: denial.message },
    }),
  );
}

/** The signed-in user, checked as every request is; no workspace. */
export function whoami(deps: RequestDeps, token: string, client: Client): Promise<Principal> {
  return withSession(deps, credentials(deps, token, null, client), async (_tx, p) => p);
}

/** Runs `fn` for a signed-in member in a workspace, as palisade_app (RLS applies). */
export function inWorkspace<T>(deps: RequestDeps, token: string, workspaceId: string, client: Client, fn: (tx: Sql, actor: Actor) => Promise<T>): Promise<T> {
  return asMember(deps, token, workspaceId, client, fn);
}

/** Runs `fn` for a signed-in user's own account (sessions, password): through the bypass. */
export function asAccount<T>(deps: IdentityDeps, token: string, reason: string, client: Client, fn: (tx: Sql, p: Principal) => Promise<T>): Promise<T> {
  return withSession(deps, credentials(deps, token, null, client), fn, { systemReason: reason });
}

/**
 * Runs `fn` for a member's action in a workspace that reaches other users' sessions: through the
 * bypass, after the same session and permission checks.
 */
export function asWorkspaceAdmin<T>(deps: IdentityDeps, token: string, workspaceId: string, reason: string, client: Client, fn: (tx: Sql, actor: Actor) => Promise<T>): Promise<T> {
  return asMember(deps, token, workspaceId, client, fn, { systemReason: reason });
}

/**
 * Nobody grants what they do not hold (ACC-6, rule `no_escalation`): giving someone a system role
 * needs every permission of that role.
 */
export function assertCanGrantRole(deps: Pick<IdentityDeps, 'access'>, actor: Actor, role: SystemRole): void {
  const missing = deps.access.notHeld(actor, deps.access.catalog.systemRole(role).permissions);
  if (missing.length > 0) throw new AccessDenied('no_escalation', `granting ${role} needs permissions you do not hold: ${missing.slice(0, 5).join(', ')}`);
}

/** Owners alone act on owners (rule `owner_only`). */
export function requireOwner(actor: Actor, detail: string): void {
  if (actor.systemRole !== 'owner') throw new AccessDenied('owner_only', detail);
}

/** Issues a session for a user who just proved who they are (a new token every time: no fixation). */
export async function createSession(tx: Sql, deps: IdentityDeps, userId: string, client: Client): Promise<NewSession> {
  const { token, hash } = issueToken();
  const { rows } = await tx.query<{ id: string; expires_at: Date }>(
    `INSERT INTO central.sessions (user_id, token_hash, expires_at, ip, user_agent)
     VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3), $4, $5) RETURNING id, expires_at`,
    [userId, hash, deps.options.sessionMaxAgeSeconds, client.ip, client.userAgent],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('session insert returned nothing');
  return { token, csrfToken: csrfTokenFor(token), sessionId: row.id, expiresAt: row.expires_at, userId };
}

async function loginAttempt(tx: Sql, attempt: { email: string; userId: string | null; succeeded: boolean; reason: string; client: Client }): Promise<void> {
  await tx.query(
    `INSERT INTO central.login_attempts (email, user_id, succeeded, reason, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6)`,
    [attempt.email.slice(0, 320), attempt.userId, attempt.succeeded, attempt.reason, attempt.client.ip, attempt.client.userAgent],
  );
  await recordEvent(tx, {
    workspaceId: PLATFORM_WORKSPACE,
    eventType: attempt.succeeded ? 'auth.login' : attempt.reason === 'locked_out' ? 'auth.locked' : 'auth.login_failed',
    action: attempt.succeeded ? 'LOGIN' : 'LOGIN_FAILED',
    tableName: 'central.users',
    ...(attempt.userId === null ? {} : { recordId: attempt.userId }),
    newValues: { email: attempt.email.slice(0, 320), reason: attempt.reason, mfa: 'not_enrolled' },
    actor: { userId: attempt.userId, email: attempt.email.slice(0, 320), ip: attempt.client.ip, userAgent: attempt.client.userAgent },
  });
}

/**
 * Signs in with e-mail and password (AUTH-8). The account row is locked FOR UPDATE for the whole
 * attempt, so concurrent attempts queue and no more than `lockoutThreshold` passwords are ever
 * tried before the lock; unknown e-mails spend the same hashing time. Every attempt is recorded.
 * A new session (new token) is issued at every success: no fixation.
 */
export async function signIn(deps: IdentityDeps, input: { email: unknown; password: unknown }, client: Client): Promise<NewSession> {
  const password = typeof input.password === 'string' ? input.password : '';
  const email = normalizeEmail(input.email);
  const outcome = await deps.db.withSystem('auth: sign-in', async (tx): Promise<NewSession | AppError> => {
    if (email === null) {
      await deps.passwords.dummyVerify(password);
      return fail('INVALID_CREDENTIALS');
    }
    const { rows } = await tx.query<{ id: string; password_hash: string | null; status: string; failed_attempts: number; locked: boolean }>(
      `SELECT id, password_hash, status, failed_attempts, coalesce(locked_until > clock_timestamp(), false) AS locked
         FROM central.users WHERE email_normalized = $1 FOR UPDATE`,
      [email],
    );
    const user = rows[0];
    if (user === undefined) {
      await deps.passwords.dummyVerify(password);
      await loginAttempt(tx, { email, userId: null, succeeded: false, reason: 'unknown_email', client });
      return fail('INVALID_CREDENTIALS');
    }
    if (user.locked) {
      await loginAttempt(tx, { email, userId: user.id, succeeded: false, reason: 'locked', client });
      return fail('ACCOUNT_LOCKED');
    }
    const ok = user.password_hash !== null && (await deps.passwords.verify(user.password_hash, password));
    if (!ok || user.status !== 'active') {
      const failures = user.failed_attempts + 1;
      const lockNow = failures >= deps.options.lockoutThreshold;
      await tx.query(
        `UPDATE central.users SET failed_attempts = $2,
                locked_until = CASE WHEN $3 THEN clock_timestamp() + make_interval(secs => $4) ELSE locked_until END
          WHERE id = $1`,
        [user.id, lockNow ? 0 : failures, lockNow, deps.options.lockoutSeconds],
      );
      const reason = user.status !== 'active' ? 'deactivated' : lockNow ? 'locked_out' : 'bad_password';
      await loginAttempt(tx, { email, userId: user.id, succeeded: false, reason, client });
      return fail('INVALID_CREDENTIALS');
    }
    await tx.query('UPDATE central.users SET failed_attempts = 0, locked_until = NULL WHERE id = $1', [user.id]);
    const session = await createSession(tx, deps, user.id, client);
    await loginAttempt(tx, { email, userId: user.id, succeeded: true, reason: 'password', client });
    return session;
  });
  if (outcome instanceof Error) throw outcome;
  return outcome;
}

/** Ends the caller's session. */
export async function signOut(deps: IdentityDeps, token: string, client: Client): Promise<void> {
  await asAccount(deps, token, 'auth: sign-out', client, async (tx, p) => {
    await tx.query(`UPDATE central.sessions SET revoked_at = clock_timestamp(), revoked_reason = 'sign_out' WHERE id = $1`, [p.sessionId]);
    await recordEvent(tx, { workspaceId: PLATFORM_WORKSPACE, eventType: 'auth.logout', action: 'LOGOUT', tableName: 'central.sessions', recordId: p.sessionId });
  });
}

export interface SessionView {
  id: string;
  current: boolean;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  ip: string | null;
  userAgent: string | null;
  deviceId: string | null;
}

const SESSION_COLUMNS = `id, created_at AS "createdAt", last_seen_at AS "lastSeenAt", expires_at AS "expiresAt",
  host(ip) AS ip, user_agent AS "userAgent", device_id AS "deviceId"`;

async function liveSessions(tx: Sql, userId: string, currentId: string | null): Promise<SessionView[]> {
  const { rows } = await tx.query<Omit<SessionView, 'current'>>(
    `SELECT ${SESSION_COLUMNS} FROM central.sessions s
      WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > clock_timestamp()
        AND s.created_at >= (SELECT u.sessions_valid_after FROM central.users u WHERE u.id = $1)
      ORDER BY s.created_at DESC`,
    [userId],
  );
  return rows.map((r) => ({ ...r, current: r.id === currentId }));
}

export async function listOwnSessions(deps: IdentityDeps, token: string, client: Client): Promise<SessionView[]> {
  return asAccount(deps, token, 'auth: list own sessions', client, (tx, p) => liveSessions(tx, p.userId, p.sessionId));
}

/** Signs out one of the caller's sessions, or every other one. */
export async function revokeOwnSessions(
  deps: IdentityDeps,
  token: string,
  target: { sessionId: string } | { allOthers: true },
  client: Client,
): Promise<number> {
  return asAccount(deps, token, 'auth: revoke own sessions', client, async (tx, p) => {
    const { rowCount } =
      'sessionId' in target
        ? await tx.query(
            `UPDATE central.sessions SET revoked_at = clock_timestamp(), revoked_reason = 'signed_out_by_user'
              WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`,
            [target.sessionId, p.userId],
          )
        : await tx.query(
            `UPDATE central.sessions SET revoked_at = clock_timestamp(), revoked_reason = 'signed_out_elsewhere'
              WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`,
            [p.userId, p.sessionId],
          );
    if ('sessionId' in target && rowCount === 0) throw fail('SESSION_NOT_FOUND');
    await recordEvent(tx, {
      workspaceId: PLATFORM_WORKSPACE,
      eventType: 'auth.sessions_revoked',
      action: 'LOGOUT',
      tableName: 'central.sessions',
      newValues: 'sessionId' in target ? { session_id: target.sessionId } : { all_others: true, count: rowCount },
    });
    return rowCount;
  });
}

/**
 * Changes the caller's password: checks the current one and the policy, then ends every session
 * (sessions_valid_after) and issues a fresh one for the caller (AUTH-7).
 */
export async function changePassword(
  deps: IdentityDeps,
  token: string,
  input: { currentPassword: string; newPassword: string },
  client: Client,
): Promise<NewSession> {
  return asAccount(deps, token, 'auth: change password', client, async (tx, p) => {
    const { rows } = await tx.query<{ password_hash: string | null; display_name: string | null }>(
      'SELECT password_hash, display_name FROM central.users WHERE id = $1 FOR UPDATE',
      [p.userId],
    );
    const hash = rows[0]?.password_hash ?? null;
    if (hash === null || !(await deps.passwords.verify(hash, input.currentPassword))) throw fail('INVALID_CREDENTIALS', 'the current password is wrong');
    const problems = await deps.passwords.problems(input.newPassword, { email: p.email, ...(rows[0]?.display_name ? { name: rows[0].display_name } : {}) });
    if (problems !== null) throw fail('WEAK_PASSWORD', problems.join(', '), { problems });
    await tx.query(
      `UPDATE central.users SET password_hash = $2, sessions_valid_after = clock_timestamp(), updated_at = now() WHERE id = $1`,
      [p.userId, await deps.passwords.hash(input.newPassword)],
    );
    // Outstanding reset links die with the old password.
    await tx.query(
      `UPDATE central.password_resets SET invalidated_at = clock_timestamp() WHERE user_id = $1 AND used_at IS NULL AND invalidated_at IS NULL`,
      [p.userId],
    );
    await recordEvent(tx, { workspaceId: PLATFORM_WORKSPACE, eventType: 'auth.password_changed', action: 'UPDATE', tableName: 'central.users', recordId: p.userId });
    return createSession(tx, deps, p.userId, client);
  });
}

/**
 * Starts a password reset (AUTH-2). Answers the same whether or not the e-mail has an account;
 * takes exactly one address string (arrays, lists and look-alike Unicode never reach a mailbox).
 * A new request invalidates the previous links of that account.
 */
export async function requestPasswordReset(deps: IdentityDeps, input: { email: unknown }, client: Client): Promise<void> {
  const email = normalizeEmail(input.email);
  if (email === null) throw fail('INVALID_EMAIL');
  const queued = await deps.db.withSystem('auth: password reset request', async (tx) => {
    const { rows } = await tx.query<{ id: string; email: string }>(
      `SELECT id, email FROM central.users WHERE email_normalized = $1 AND status = 'active'`,
      [email],
    );
    const user = rows[0];
    if (user === undefined) return false;
    await tx.query(
      `UPDATE central.password_resets SET invalidated_at = clock_timestamp()
        WHERE user_id = $1 AND used_at IS NULL AND invalidated_at IS NULL`,
      [user.id],
    );
    const { token, hash } = issueToken();
    await tx.query(
      `INSERT INTO central.password_resets (user_id, token_hash, expires_at) VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))`,
      [user.id, hash, deps.options.resetTtlSeconds],
    );
    const link = new URL('/reset-password', deps.options.publicUrl);
    link.hash = `token=${token}`;
    await queueMail(tx, {
      kind: 'password_reset',
      to: user.email,
      subject: 'Reset your Palisade password',
      text: `Someone (hopefully you) asked to reset the password of ${user.email}.\n\nOpen this link within ${Math.round(deps.options.resetTtlSeconds / 60)} minutes to choose a new one:\n${link.toString()}\n\nIf it was not you, ignore this mail: your password stays as it is.\n`,
    });
    await recordEvent(tx, {
      workspaceId: PLATFORM_WORKSPACE, eventType: 'auth.password_reset_requested', action: 'UPDATE', tableName: 'central.users', recordId: user.id,
      actor: { userId: user.id, email: user.email, ip: client.ip, userAgent: client.userAgent },
    });
    return true;
  });
  if (queued) deps.mailQueued();
}

/** Completes a reset: single use, within its hour, then every session of the account ends. */
export async function completePasswordReset(deps: IdentityDeps, input: { token: unknown; password: string }, client: Client): Promise<void> {
  if (!isWellFormedToken(input.token)) throw fail('RESET_LINK_INVALID');
  const tokenHash = hashToken(input.token);
  await deps.db.withSystem('auth: password reset', async (tx) => {
    const { rows } = await tx.query<{ id: string; user_id: string; email: string; display_name: string | null }>(
      `UPDATE central.password_resets r SET used_at = clock_timestamp()
         FROM central.users u
        WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.invalidated_at IS NULL AND r.expires_at > clock_timestamp()
          AND u.id = r.user_id AND u.status = 'active'
        RETURNING r.id, r.user_id, u.email, u.display_name`,
      [tokenHash],
    );
    const reset = rows[0];
    if (reset === undefined) throw fail('RESET_LINK_INVALID');
    const problems = await deps.passwords.problems(input.password, { email: reset.email, ...(reset.display_name ? { name: reset.display_name } : {}) });
    if (problems !== null) throw fail('WEAK_PASSWORD', problems.join(', '), { problems });
    await tx.query(
      `UPDATE central.users SET password_hash = $2, sessions_valid_after = clock_timestamp(), failed_attempts = 0,
              locked_until = NULL, updated_at = now() WHERE id = $1`,
      [reset.user_id, await deps.passwords.hash(input.password)],
    );
    // Any other outstanding link dies with this one.
    await tx.query(
      `UPDATE central.password_resets SET invalidated_at = clock_timestamp() WHERE user_id = $1 AND used_at IS NULL AND invalidated_at IS NULL`,
      [reset.user_id],
    );
    await recordEvent(tx, {
      workspaceId: PLATFORM_WORKSPACE, eventType: 'auth.password_reset', action: 'UPDATE', tableName: 'central.users', recordId: reset.user_id,
      actor: { userId: reset.user_id, email: reset.email, ip: client.ip, userAgent: client.userAgent },
    });
  });
}

/**
 * Deactivates an account everywhere (LIFE-2: a leaver, by SCIM or a platform admin): its sessions
 * fail on their next request, in every workspace.
 */
export async function deactivateUser(db: Database, userId: string, reason: string): Promise<void> {
  await db.withSystem('auth: deactivate user', async (tx) => {
    const { rowCount } = await tx.query(
      `UPDATE central.users SET status = 'deactivated', sessions_valid_after = clock_timestamp(), updated_at = now() WHERE id = $1`,
      [userId],
    );
    if (rowCount === 0) throw fail('MEMBER_NOT_FOUND');
    await recordEvent(tx, { workspaceId: PLATFORM_WORKSPACE, eventType: 'auth.user_deactivated', action: 'DEACTIVATE', tableName: 'central.users', recordId: userId, reason });
  });
}
