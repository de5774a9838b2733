import { recordEvent } from '../audit/events.ts';
import type { Database } from '../db/database.ts';
import { errorsOf } from '../kernel/errors.ts';
import { identityErrors } from './errors.ts';
import { createSession, type Client, type IdentityDeps, type NewSession } from './service.ts';
import { hashToken, issueToken, isWellFormedToken, normalizeEmail } from './tokens.ts';

const fail = errorsOf(identityErrors);
const SETUP_TTL_SECONDS = 3600;

/**
 * First run: when no workspace exists yet, makes a one-time setup link (1 hour, single use) for
 * the first workspace and its owner. Returns null once any workspace exists.
 */
export async function firstRunLink(db: Database, publicUrl: string): Promise<string | null> {
  return db.withSystem('setup: first-run link', async (tx) => {
    const any = await tx.query('SELECT 1 FROM central.workspaces LIMIT 1');
    if (any.rowCount > 0) return null;
    const { token, hash } = issueToken();
    await tx.query(`INSERT INTO central.setup_tokens (token_hash, expires_at) VALUES ($1, now() + make_interval(secs => $2))`, [hash, SETUP_TTL_SECONDS]);
    const link = new URL('/setup', publicUrl);
    link.hash = `token=${token}`;
    return link.toString();
  });
}

export interface SetupInput {
  token: unknown;
  workspaceName: string;
  workspaceSlug: string;
  email: unknown;
  displayName?: string | undefined;
  password: string;
}

/** Redeems the setup link: creates the first workspace, its owner, and signs the owner in. */
export async function completeSetup(deps: IdentityDeps, input: SetupInput, client: Client): Promise<{ workspaceId: string; session: NewSession }> {
  if (!isWellFormedToken(input.token)) throw fail('SETUP_LINK_INVALID');
  const email = normalizeEmail(input.email);
  if (email === null) throw fail('INVALID_EMAIL');
  const problems = await deps.passwords.problems(input.password, { email, ...(input.displayName ? { name: input.displayName } : {}) });
  if (problems !== null) throw fail('WEAK_PASSWORD', problems.join(', '), { problems });
  const passwordHash = await deps.passwords.hash(input.password);
  return deps.db.withSystem('setup: first workspace and owner', async (tx) => {
    const claimed = await tx.query(
      `UPDATE central.setup_tokens SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() AND NOT EXISTS (SELECT FROM central.workspaces)`,
      [hashToken(input.token as string)],
    );
    if (claimed.rowCount === 0) throw fail('SETUP_LINK_INVALID');
    const ws = await tx.query<{ id: string }>('INSERT INTO central.workspaces (slug, name) VALUES ($1, $2) RETURNING id', [input.workspaceSlug, input.workspaceName]);
    const workspaceId = ws.rows[0]?.id;
    const user = await tx.query<{ id: string }>(
      `INSERT INTO central.users (email, email_normalized, display_name, password_hash) VALUES ($1, $1, $2, $3)
       ON CONFLICT (email_normalized) DO NOTHING RETURNING id`,
      [email, input.displayName ?? null, passwordHash],
    );
    const userId = user.rows[0]?.id;
    if (workspaceId === undefined || userId === undefined) throw fail('SETUP_LINK_INVALID', 'the account already exists');
    await tx.query(`INSERT INTO tenant.members (workspace_id, user_id, role) VALUES ($1, $2, 'owner')`, [workspaceId, userId]);
    await recordEvent(tx, {
      workspaceId, eventType: 'workspace.created', action: 'CREATE', tableName: 'central.workspaces', recordId: workspaceId,
      actor: { userId, email, ip: client.ip, userAgent: client.userAgent },
    });
    return { workspaceId, session: await createSession(tx, deps, userId, client) };
  });
}

/**
 * `palisade bootstrap`: creates a workspace and invites its first owner (who sets a password by
 * following the link). For operators who prefer the CLI to the setup link.
 */
export async function bootstrapWorkspace(
  deps: IdentityDeps,
  input: { email: unknown; workspaceName: string; workspaceSlug: string },
): Promise<{ workspaceId: string; link: string }> {
  const email = normalizeEmail(input.email);
  if (email === null) throw fail('INVALID_EMAIL');
  return deps.db.withSystem('setup: bootstrap workspace', async (tx) => {
    const taken = await tx.query('SELECT 1 FROM central.workspaces WHERE slug = $1', [input.workspaceSlug]);
    if (taken.rowCount > 0) throw fail('WORKSPACE_SLUG_TAKEN');
    const ws = await tx.query<{ id: string }>('INSERT INTO central.workspaces (slug, name) VALUES ($1, $2) RETURNING id', [input.workspaceSlug, input.workspaceName]);
    const workspaceId = ws.rows[0]?.id;
    if (workspaceId === undefined) throw new Error('workspace insert returned nothing');
    const issued = issueToken();
    await tx.query(
      `INSERT INTO tenant.invitations (workspace_id, email_normalized, role, token_hash, expires_at)
       VALUES ($1, $2, 'owner', $3, now() + make_interval(secs => $4))`,
      [workspaceId, email, issued.hash, deps.options.invitationTtlSeconds],
    );
    const link = new URL('/accept-invitation', deps.options.publicUrl);
    link.hash = `workspace=${workspaceId}&token=${issued.token}`;
    return { workspaceId, link: link.toString() };
  });
}
