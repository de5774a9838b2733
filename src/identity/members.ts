import { recordEvent } from '../audit/events.ts';
import type { Sql } from '../db/types.ts';
import { errorsOf } from '../kernel/errors.ts';
import { identityErrors } from './errors.ts';
import { asWorkspaceAdmin, assertCanGrantRole, inWorkspace, requireOwner, type Client, type IdentityDeps, type MemberRole, type SessionView } from './service.ts';

const fail = errorsOf(identityErrors);

export interface MemberView {
  userId: string;
  email: string;
  displayName: string | null;
  role: MemberRole;
  status: 'active' | 'deactivated';
  joinedAt: Date;
}

export async function listMembers(deps: IdentityDeps, token: string, workspaceId: string, client: Client): Promise<MemberView[]> {
  return inWorkspace(deps, token, workspaceId, client, async (tx) => {
    const { rows } = await tx.query<MemberView>(
      `SELECT m.user_id AS "userId", u.email, u.display_name AS "displayName", m.role, m.status, m.created_at AS "joinedAt"
         FROM tenant.members m JOIN central.users u ON u.id = m.user_id ORDER BY m.created_at`,
    );
    return rows;
  });
}

/** The workspace keeps at least one active owner (checked under a lock on the owners' rows). */
async function assertOwnerRemains(tx: Sql, leavingUserId: string): Promise<void> {
  const { rows } = await tx.query<{ n: string }>(
    `SELECT count(*) AS n FROM (SELECT 1 FROM tenant.members WHERE role = 'owner' AND status = 'active' AND user_id <> $1 FOR UPDATE) o`,
    [leavingUserId],
  );
  if (rows[0]?.n === '0') throw fail('LAST_OWNER');
}

/**
 * Changes a member's role or status. The members_touch trigger moves the membership's
 * sessions_valid_after, so the member's next request in this workspace must sign in again.
 * Admins manage admins and members; only owners touch owners.
 */
export async function updateMember(
  deps: IdentityDeps,
  token: string,
  workspaceId: string,
  userId: string,
  change: { role?: MemberRole; status?: 'active' | 'deactivated' },
  client: Client,
): Promise<MemberView> {
  return inWorkspace(deps, token, workspaceId, client, async (tx, p) => {
    const current = await tx.query<{ role: MemberRole }>('SELECT role FROM tenant.members WHERE user_id = $1 FOR UPDATE', [userId]);
    const role = current.rows[0]?.role;
    if (role === undefined) throw fail('MEMBER_NOT_FOUND');
    if (role === 'owner') requireOwner(p, 'only an owner can change an owner');
    if (change.role !== undefined) assertCanGrantRole(deps, p, change.role);
    if (role === 'owner' && ((change.role !== undefined && change.role !== 'owner') || change.status === 'deactivated')) {
      await assertOwnerRemains(tx, userId);
    }
    const { rows } = await tx.query<MemberView>(
      `UPDATE tenant.members m SET role = coalesce($2, m.role), status = coalesce($3, m.status)
        WHERE m.user_id = $1
        RETURNING m.user_id AS "userId", (SELECT email FROM central.users WHERE id = m.user_id) AS email,
                  (SELECT display_name FROM central.users WHERE id = m.user_id) AS "displayName", m.role, m.status, m.created_at AS "joinedAt"`,
      [userId, change.role ?? null, change.status ?? null],
    );
    const updated = rows[0];
    if (updated === undefined) throw fail('MEMBER_NOT_FOUND');
    if (change.role !== undefined && change.role !== role) {
      await recordEvent(tx, { eventType: 'members.role_changed', action: 'ROLE_CHANGE', tableName: 'tenant.members', recordId: userId, oldValues: { role }, newValues: { role: change.role } });
    }
    if (change.status === 'deactivated') {
      await recordEvent(tx, { eventType: 'members.deactivated', action: 'DEACTIVATE', tableName: 'tenant.members', recordId: userId });
    }
    return updated;
  });
}

/** Removes a member from the workspace: their next request here is refused. */
export async function removeMember(deps: IdentityDeps, token: string, workspaceId: string, userId: string, client: Client): Promise<void> {
  await inWorkspace(deps, token, workspaceId, client, async (tx, p) => {
    const current = await tx.query<{ role: MemberRole }>('SELECT role FROM tenant.members WHERE user_id = $1 FOR UPDATE', [userId]);
    const role = current.rows[0]?.role;
    if (role === undefined) throw fail('MEMBER_NOT_FOUND');
    if (role === 'owner') {
      requireOwner(p, 'only an owner can remove an owner');
      await assertOwnerRemains(tx, userId);
    }
    // Assignments first (no cascade: see access/0001_access.sql), each one in the role-change trail.
    await tx.query('DELETE FROM tenant.member_roles WHERE user_id = $1', [userId]);
    await tx.query('UPDATE tenant.ownership_offers SET withdrawn_at = now() WHERE to_user_id = $1 AND accepted_at IS NULL AND withdrawn_at IS NULL', [userId]);
    await tx.query('DELETE FROM tenant.members WHERE user_id = $1', [userId]);
    await recordEvent(tx, { eventType: 'members.removed', action: 'DELETE', tableName: 'tenant.members', recordId: userId, oldValues: { role } });
  });
}

/** The member's role in the workspace, or MEMBER_NOT_FOUND (admins act only on their own members). */
async function assertMember(tx: Sql, workspaceId: string, userId: string): Promise<MemberRole> {
  const { rows } = await tx.query<{ role: MemberRole }>('SELECT role FROM tenant.members WHERE workspace_id = $1 AND user_id = $2', [workspaceId, userId]);
  const role = rows[0]?.role;
  if (role === undefined) throw fail('MEMBER_NOT_FOUND');
  return role;
}

/** An admin lists a member's live sessions (AUTH-6). */
export async function listMemberSessions(deps: IdentityDeps, token: string, workspaceId: string, userId: string, client: Client): Promise<SessionView[]> {
  return asWorkspaceAdmin(deps, token, workspaceId, 'auth: admin lists member sessions', client, async (tx) => {
    await assertMember(tx, workspaceId, userId);
    const { rows } = await tx.query<Omit<SessionView, 'current'>>(
      `SELECT s.id, s.created_at AS "createdAt", s.last_seen_at AS "lastSeenAt", s.expires_at AS "expiresAt",
              host(s.ip) AS ip, s.user_agent AS "userAgent", s.device_id AS "deviceId"
         FROM central.sessions s JOIN central.users u ON u.id = s.user_id
        WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > clock_timestamp() AND s.created_at >= u.sessions_valid_after
        ORDER BY s.created_at DESC`,
      [userId],
    );
    return rows.map((r) => ({ ...r, current: false }));
  });
}

/** An admin signs a member out of every session (AUTH-6, AUTH-7). */
export async function forceSignOut(deps: IdentityDeps, token: string, workspaceId: string, userId: string, client: Client): Promise<number> {
  return asWorkspaceAdmin(deps, token, workspaceId, 'auth: admin forces sign-out', client, async (tx, p) => {
    const target = await assertMember(tx, workspaceId, userId);
    if (target === 'owner') requireOwner(p, 'only an owner can sign out an owner');
    const { rowCount } = await tx.query(
      `UPDATE central.sessions SET revoked_at = clock_timestamp(), revoked_reason = 'forced_by_admin' WHERE user_id = $1 AND revoked_at IS NULL`,
      [userId],
    );
    await recordEvent(tx, { workspaceId, eventType: 'members.signed_out', action: 'LOGOUT', tableName: 'central.sessions', recordId: userId, newValues: { sessions: rowCount } });
    return rowCount;
  });
}

/** Signs every member of the workspace out of it at once (tenant-wide revoke, AUTH-7). */
export async function revokeWorkspaceSessions(deps: IdentityDeps, token: string, workspaceId: string, client: Client): Promise<void> {
  await asWorkspaceAdmin(deps, token, workspaceId, 'auth: workspace-wide sign-out', client, async (tx) => {
    await tx.query('UPDATE central.workspaces SET sessions_valid_after = clock_timestamp() WHERE id = $1', [workspaceId]);
    await recordEvent(tx, { workspaceId, eventType: 'workspace.sessions_revoked', action: 'CONFIG', tableName: 'central.workspaces', recordId: workspaceId });
  });
}
