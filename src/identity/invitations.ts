import { recordEvent } from '../audit/events.ts';
import { errorsOf } from '../kernel/errors.ts';
import { queueMail } from '../notify/outbox.ts';
import { identityErrors } from './errors.ts';
import { assertCanGrantRole, createSession, inWorkspace, type Client, type IdentityDeps, type MemberRole, type NewSession } from './service.ts';
import { hashToken, issueToken, isWellFormedToken, normalizeEmail } from './tokens.ts';

const fail = errorsOf(identityErrors);

/**
 * Invites an e-mail into the workspace with a role (AUTH-11). Owners and admins only; only an
 * owner may invite an owner. A re-invite replaces (revokes) the pending invitations of that
 * address. The link is mailed after commit; the token is stored hashed.
 */
export async function invite(
  deps: IdentityDeps,
  token: string,
  workspaceId: string,
  input: { email: unknown; role: MemberRole },
  client: Client,
): Promise<{ id: string; email: string; role: MemberRole; expiresAt: Date }> {
  const email = normalizeEmail(input.email);
  if (email === null) throw fail('INVALID_EMAIL');
  const result = await inWorkspace(deps, token, workspaceId, client, async (tx, p) => {
    assertCanGrantRole(deps, p, input.role);
    await tx.query(
      `UPDATE tenant.invitations SET revoked_at = now()
        WHERE workspace_id = $1 AND email_normalized = $2 AND accepted_at IS NULL AND revoked_at IS NULL`,
      [workspaceId, email],
    );
    const issued = issueToken();
    const { rows } = await tx.query<{ id: string; expires_at: Date; name: string }>(
      `INSERT INTO tenant.invitations (workspace_id, email_normalized, role, token_hash, invited_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
       RETURNING id, expires_at, (SELECT name FROM central.workspaces WHERE id = $1) AS name`,
      [workspaceId, email, input.role, issued.hash, p.userId, deps.options.invitationTtlSeconds],
    );
    const row = rows[0];
    if (row === undefined) throw new Error('invitation insert returned nothing');
    const link = new URL('/accept-invitation', deps.options.publicUrl);
    link.hash = `workspace=${workspaceId}&token=${issued.token}`;
    await queueMail(tx, {
      kind: 'invitation',
      workspaceId,
      to: email,
      subject: `You are invited to ${row.name} on Palisade`,
      text: `${p.email} invited you to join ${row.name} as ${input.role}.\n\nAccept within ${Math.round(deps.options.invitationTtlSeconds / 3600)} hours:\n${link.toString()}\n\nThe link works once, and only for ${email}.\n`,
    });
    return { id: row.id, email, role: input.role, expiresAt: row.expires_at };
  });
  deps.mailQueued();
  return result;
}

/** Withdraws a pending invitation. */
export async function revokeInvitation(deps: IdentityDeps, token: string, workspaceId: string, invitationId: string, client: Client): Promise<void> {
  await inWorkspace(deps, token, workspaceId, client, async (tx) => {
    const { rowCount } = await tx.query(
      `UPDATE tenant.invitations SET revoked_at = now() WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL`,
      [invitationId],
    );
    if (rowCount === 0) throw fail('INVITATION_INVALID', 'no pending invitation with that id');
  });
}

export interface InvitationView {
  id: string;
  email: string;
  role: MemberRole;
  status: 'pending' | 'accepted' | 'expired' | 'revoked';
  createdAt: Date;
  expiresAt: Date;
}

export async function listInvitations(deps: IdentityDeps, token: string, workspaceId: string, client: Client): Promise<InvitationView[]> {
  return inWorkspace(deps, token, workspaceId, client, async (tx) => {
    const { rows } = await tx.query<InvitationView>(
      `SELECT id, email_normalized AS email, role,
              CASE WHEN accepted_at IS NOT NULL THEN 'accepted' WHEN revoked_at IS NOT NULL THEN 'revoked'
                   WHEN expires_at <= now() THEN 'expired' ELSE 'pending' END AS status,
              created_at AS "createdAt", expires_at AS "expiresAt"
         FROM tenant.invitations ORDER BY created_at DESC LIMIT 500`,
    );
    return rows;
  });
}

/**
 * Accepts an invitation (AUTH-11). Claims it with one conditional UPDATE, so of two concurrent
 * accepts exactly one wins. Bound to the invited address: a new account is created only for an
 * address that has none (the mailed token proves the mailbox); an existing account must be signed
 * in as that address, so nobody redeems an invitation into someone else's account.
 */
export async function acceptInvitation(
  deps: IdentityDeps,
  input: { workspaceId: string; token: unknown; password?: string; displayName?: string; sessionToken?: string | undefined },
  client: Client,
): Promise<{ userId: string; session: NewSession | null }> {
  if (!isWellFormedToken(input.token)) throw fail('INVITATION_INVALID');
  const tokenHash = hashToken(input.token);
  const signedIn = input.sessionToken === undefined ? null : hashToken(input.sessionToken);
  return deps.db.withSystem('auth: accept invitation', async (tx) => {
    // A signed-in caller is checked exactly as every request is (and becomes the event's actor).
    let caller: string | null = null;
    if (signedIn !== null) {
      const who = await tx.query<{ user_id: string }>('SELECT user_id FROM palisade.begin_request($1, NULL, $2, $3, $4, $5, $6)', [
        signedIn, client.ip, client.userAgent, client.route, deps.options.idleTimeoutSeconds, deps.options.privilegedMaxAgeSeconds,
      ]);
      caller = who.rows[0]?.user_id ?? null;
    }
    const { rows } = await tx.query<{ id: string; email_normalized: string; role: MemberRole; expired: boolean; accepted: boolean; revoked: boolean }>(
      `SELECT id, email_normalized, role, expires_at <= now() AS expired, accepted_at IS NOT NULL AS accepted, revoked_at IS NOT NULL AS revoked
         FROM tenant.invitations WHERE workspace_id = $1 AND token_hash = $2`,
      [input.workspaceId, tokenHash],
    );
    const inv = rows[0];
    if (inv === undefined) throw fail('INVITATION_INVALID');
    if (inv.accepted) throw fail('INVITATION_USED');
    if (inv.revoked) throw fail('INVITATION_REVOKED');
    if (inv.expired) throw fail('INVITATION_EXPIRED');

    // Claim first: a concurrent accept of the same invitation waits on this row and then finds
    // it taken, before either creates an account.
    const claimed = await tx.query(
      `UPDATE tenant.invitations SET accepted_at = clock_timestamp()
        WHERE workspace_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()`,
      [input.workspaceId, inv.id],
    );
    if (claimed.rowCount === 0) throw fail('INVITATION_USED');
    const existing = await tx.query<{ id: string }>('SELECT id FROM central.users WHERE email_normalized = $1', [inv.email_normalized]);
    let userId = existing.rows[0]?.id;
    let session: NewSession | null = null;
    if (userId !== undefined) {
      // The account exists: only its own signed-in session may accept.
      if (caller === null) throw fail('INVITATION_SIGN_IN_REQUIRED');
      if (caller !== userId) throw fail('INVITATION_WRONG_ACCOUNT');
    } else {
      if (typeof input.password !== 'string') throw fail('WEAK_PASSWORD', 'choose a password', { problems: ['TOO_SHORT'] });
      const problems = await deps.passwords.problems(input.password, { email: inv.email_normalized, ...(input.displayName ? { name: input.displayName } : {}) });
      if (problems !== null) throw fail('WEAK_PASSWORD', problems.join(', '), { problems });
      const created = await tx.query<{ id: string }>(
        `INSERT INTO central.users (email, email_normalized, display_name, password_hash) VALUES ($1, $1, $2, $3) RETURNING id`,
        [inv.email_normalized, input.displayName ?? null, await deps.passwords.hash(input.password)],
      );
      userId = created.rows[0]?.id;
      if (userId === undefined) throw new Error('user insert returned nothing');
    }
    await tx.query('UPDATE tenant.invitations SET accepted_by = $3 WHERE workspace_id = $1 AND id = $2', [input.workspaceId, inv.id, userId]);
    await tx.query(
      `INSERT INTO tenant.members (workspace_id, user_id, role) VALUES ($1, $2, $3)
       ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role, status = 'active'`,
      [input.workspaceId, userId, inv.role],
    );
    await recordEvent(tx, {
      workspaceId: input.workspaceId, eventType: 'members.invitation_accepted', action: 'INVITE', tableName: 'tenant.invitations', recordId: inv.id,
      actor: { userId, email: inv.email_normalized, ip: client.ip, userAgent: client.userAgent },
    });
    if (existing.rows.length === 0) session = await createSession(tx, deps, userId, client);
    return { userId, session };
  });
}
