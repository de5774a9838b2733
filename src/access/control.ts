import type { Principal } from '../db/database.ts';
import type { Sql } from '../db/types.ts';
import type { AccessCatalog, SystemRole } from './catalog.ts';

/** A role a member holds, as explain and the role views show it. */
export interface HeldRole {
  /** Predefined roles by key (`finance_manager`), custom roles by id. */
  key: string;
  name: string;
  kind: 'system' | 'predefined' | 'custom';
}

/** What a member may do in a workspace: their roles and the union of their permissions. */
export interface Permissions {
  roles: readonly HeldRole[];
  permissions: ReadonlySet<string>;
  /** For each permission, the roles that give it (explain, ACC-7). */
  grantedBy: ReadonlyMap<string, readonly string[]>;
}

/** The signed-in member of a workspace request, with their effective permissions. */
export interface Actor extends Permissions {
  userId: string;
  email: string;
  workspaceId: string;
  systemRole: SystemRole;
  sessionId: string;
  can(permission: string): boolean;
}

/**
 * A refused action. `rule` names what refused it: `permission` (RBAC: the route's or action's
 * permission is not held) or an attribute rule (`no_self_approval`, `department_scope`, …).
 * Recorded in the audit trail (in a transaction of its own: the refused one rolls back) and sent
 * as 403 FORBIDDEN with the rule and permission.
 */
export class AccessDenied extends Error {
  readonly rule: string;
  readonly permission: string | undefined;
  readonly record: { table: string; id: string } | undefined;
  constructor(rule: string, detail: string, options: { permission?: string | undefined; record?: { table: string; id: string } | undefined } = {}) {
    super(detail);
    this.name = 'AccessDenied';
    this.rule = rule;
    this.permission = options.permission;
    this.record = options.record;
  }
}

/** Throws AccessDenied (rule `permission`) unless the actor holds `permission`. */
export function requirePermission(actor: Actor, permission: string): void {
  if (!actor.can(permission)) throw new AccessDenied('permission', `requires the ${permission} permission`, { permission });
}

const CACHE_LIMIT = 10_000;

/**
 * An actor made on every request: a class, so that a request creates one plain object and no
 * closure (under tsx each closure would also be renamed with Object.defineProperty, which cost
 * ~4 µs per request here).
 */
class MemberActor implements Actor {
  readonly roles: readonly HeldRole[];
  readonly permissions: ReadonlySet<string>;
  readonly grantedBy: ReadonlyMap<string, readonly string[]>;
  readonly userId: string;
  readonly email: string;
  readonly workspaceId: string;
  readonly systemRole: SystemRole;
  readonly sessionId: string;

  constructor(held: Permissions, userId: string, email: string, workspaceId: string, systemRole: SystemRole, sessionId: string) {
    this.roles = held.roles;
    this.permissions = held.permissions;
    this.grantedBy = held.grantedBy;
    this.userId = userId;
    this.email = email;
    this.workspaceId = workspaceId;
    this.systemRole = systemRole;
    this.sessionId = sessionId;
  }

  can(permission: string): boolean {
    return this.permissions.has(permission);
  }
}

/**
 * Computes effective permission sets and caches them per member, keyed by the workspace's access
 * version (returned by palisade.begin_request in the same statement as the session check). Every
 * change to roles, assignments or memberships moves the version, so the next request misses the
 * cache and sees the change: no stale grant survives a request.
 */
export class AccessControl {
  readonly catalog: AccessCatalog;
  /** Every route of the app and what it requires (filled as routes register; role previews list them). */
  readonly routes: { method: string; url: string; access: string }[] = [];
  readonly #cache = new Map<string, { version: string; permissions: Permissions }>();

  constructor(catalog: AccessCatalog) {
    this.catalog = catalog;
  }

  /** The actor of a workspace request; one query on a cache miss, none on a hit. */
  async actor(tx: Sql, principal: Principal, workspaceId: string): Promise<Actor> {
    if (principal.role === null) throw new Error('actor() needs a workspace request');
    const key = `${workspaceId}/${principal.userId}/${principal.role}`;
    const version = principal.accessVersion ?? '0';
    let cached = this.#cache.get(key);
    if (cached?.version !== version) {
      cached = { version, permissions: await this.memberPermissions(tx, workspaceId, principal.userId, principal.role) };
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value ?? '');
      this.#cache.set(key, cached);
    }
    return new MemberActor(cached.permissions, principal.userId, principal.email, workspaceId, principal.role, principal.sessionId);
  }

  /**
   * A member's roles and permissions. The workspace is named explicitly as well as enforced by
   * RLS: admin actions run this through the bypass, where RLS would show every workspace.
   */
  async memberPermissions(tx: Sql, workspaceId: string, userId: string, systemRole: SystemRole): Promise<Permissions> {
    const { rows } = await tx.query<{ role_key: string | null; role_id: string | null; name: string | null; permissions: string[] | null }>(
      `SELECT mr.role_key, mr.role_id, r.name, r.permissions
         FROM tenant.member_roles mr LEFT JOIN tenant.roles r ON r.workspace_id = mr.workspace_id AND r.id = mr.role_id
        WHERE mr.workspace_id = $1 AND mr.user_id = $2`,
      [workspaceId, userId],
    );
    const held: { role: HeldRole; permissions: Iterable<string> }[] = [];
    const system = this.catalog.systemRole(systemRole);
    held.push({ role: { key: system.key, name: system.name, kind: 'system' }, permissions: system.permissions });
    for (const row of rows) {
      if (row.role_key !== null) {
        // A predefined role that a module no longer declares gives nothing.
        const builtin = this.catalog.roles.get(row.role_key);
        if (builtin?.kind === 'predefined') held.push({ role: { key: builtin.key, name: builtin.name, kind: 'predefined' }, permissions: builtin.permissions });
      } else if (row.role_id !== null && row.name !== null) {
        held.push({ role: { key: row.role_id, name: row.name, kind: 'custom' }, permissions: this.customPermissions(row.permissions ?? []) });
      }
    }
    return combine(held);
  }

  /** A custom role's permissions that still exist and that a custom role may hold. */
  customPermissions(stored: Iterable<string>): Set<string> {
    const out = new Set<string>();
    for (const p of stored) if (this.catalog.has(p) && !this.catalog.isOwnerOnly(p)) out.add(p);
    return out;
  }

  /**
   * Checks `permission` on a record for `actor`: the permission (RBAC), then the permission's
   * record policy if a module declared one (ABAC). Throws AccessDenied naming what refused.
   */
  async authorize(tx: Sql, actor: Actor, permission: string, recordId?: string): Promise<void> {
    requirePermission(actor, permission);
    const policy = this.catalog.policies.get(permission);
    if (policy !== undefined && recordId !== undefined) await policy(tx, actor, recordId);
  }

  /** Another member as an actor (for explain): their system role and roles, no session. */
  async memberActor(tx: Sql, workspaceId: string, userId: string): Promise<Actor | null> {
    const { rows } = await tx.query<{ role: SystemRole; email: string }>(
      `SELECT m.role, u.email FROM tenant.members m JOIN central.users u ON u.id = m.user_id
        WHERE m.workspace_id = $1 AND m.user_id = $2 AND m.status = 'active'`,
      [workspaceId, userId],
    );
    const row = rows[0];
    if (row === undefined) return null;
    const permissions = await this.memberPermissions(tx, workspaceId, userId, row.role);
    return new MemberActor(permissions, userId, row.email, workspaceId, row.role, '');
  }

  /** Permissions in `wanted` that `actor` does not hold: nobody grants what they lack (ACC-6). */
  notHeld(actor: Actor, wanted: Iterable<string>): string[] {
    return [...wanted].filter((p) => !actor.can(p));
  }
}

function combine(held: readonly { role: HeldRole; permissions: Iterable<string> }[]): Permissions {
  const permissions = new Set<string>();
  const grantedBy = new Map<string, string[]>();
  for (const { role, permissions: ps } of held) {
    for (const p of ps) {
      permissions.add(p);
      const by = grantedBy.get(p);
      if (by === undefined) grantedBy.set(p, [role.name]);
      else by.push(role.name);
    }
  }
  return { roles: held.map((h) => h.role), permissions, grantedBy };
}
