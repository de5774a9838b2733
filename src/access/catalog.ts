import type { Sql } from '../db/types.ts';
import type { Actor } from './control.ts';

/**
 * The permission catalog and the predefined roles (ACC-1, ACC-2): plain data declared by each
 * module, merged once when the app is built.
 */

/** One named permission: what it allows, in words a workspace admin understands. */
export interface PermissionSpec {
  description: string;
  /**
   * Held only by owners (never by Admin or any other role, predefined or custom): ownership
   * transfer, workspace-wide sign-out.
   */
  ownerOnly?: boolean;
}

export type PermissionCatalog = Readonly<Record<string, PermissionSpec>>;

const PERMISSION = /^[a-z][a-z_]*(\.[a-z][a-z_]*)+$/;
const ROLE_KEY = /^[a-z][a-z0-9_]{0,62}$/;

/** Declares a module's permissions; ids are dotted lower-case (`expenses.approve`). */
export function definePermissions<const C extends PermissionCatalog>(catalog: C): C {
  for (const id of Object.keys(catalog)) {
    if (!PERMISSION.test(id)) throw new Error(`permission ${JSON.stringify(id)} must match ${PERMISSION.source}`);
  }
  return catalog;
}

/**
 * A predefined role, or a module's contribution to one: modules add their permissions to roles
 * declared elsewhere by naming the same key (the expenses module gives Finance Manager
 * `expenses.approve`). Exactly one module gives a role its name.
 */
export interface RoleDefinition {
  key: string;
  name?: string;
  description?: string;
  permissions: readonly string[];
}

/**
 * The attribute rules of one permission on one record (ACC-4): resolves when `actor` may use
 * `permission` on `recordId`, throws AccessDenied naming the rule when not. The same function
 * guards the action and answers explain (ACC-7), so the two cannot disagree.
 */
export type RecordPolicy = (tx: Sql, actor: Actor, recordId: string) => Promise<void>;

/** What a route requires: no session, any signed-in user, or a named permission in its workspace. */
export type RouteAccess = 'public' | 'signed-in' | (string & {});

/** The system roles of a membership (tenant.members.role). */
export const SYSTEM_ROLES = ['owner', 'admin', 'member'] as const;
export type SystemRole = (typeof SYSTEM_ROLES)[number];

export interface BuiltinRole {
  key: string;
  name: string;
  description: string;
  kind: 'system' | 'predefined';
  permissions: ReadonlySet<string>;
}

interface ModuleAccess {
  id: string;
  permissions?: PermissionCatalog;
  roles?: readonly RoleDefinition[];
  policies?: Readonly<Record<string, RecordPolicy>>;
}

/** Every permission and predefined role of the app's modules. */
export class AccessCatalog {
  readonly permissions: ReadonlyMap<string, PermissionSpec & { module: string }>;
  readonly roles: ReadonlyMap<string, BuiltinRole>;
  readonly policies: ReadonlyMap<string, RecordPolicy>;

  constructor(modules: readonly ModuleAccess[]) {
    const permissions = new Map<string, PermissionSpec & { module: string }>();
    for (const module of modules) {
      for (const [id, spec] of Object.entries(module.permissions ?? {})) {
        const other = permissions.get(id);
        if (other !== undefined) throw new Error(`permission ${id} is declared by both ${other.module} and ${module.id}`);
        permissions.set(id, { ...spec, module: module.id });
      }
    }
    this.permissions = permissions;

    const drafts = new Map<string, { name?: string; description?: string; permissions: Set<string> }>();
    for (const module of modules) {
      for (const role of module.roles ?? []) {
        if (!ROLE_KEY.test(role.key)) throw new Error(`role key ${JSON.stringify(role.key)} must match ${ROLE_KEY.source}`);
        const draft = drafts.get(role.key) ?? { permissions: new Set<string>() };
        if (role.name !== undefined) {
          if (draft.name !== undefined) throw new Error(`role ${role.key} is named twice (by ${module.id} and another module)`);
          draft.name = role.name;
          draft.description = role.description ?? '';
        }
        for (const p of role.permissions) {
          const spec = permissions.get(p);
          if (spec === undefined) throw new Error(`role ${role.key} (module ${module.id}) names unknown permission ${p}`);
          if (spec.ownerOnly === true && role.key !== 'owner') throw new Error(`role ${role.key} cannot hold owner-only permission ${p}`);
          draft.permissions.add(p);
        }
        drafts.set(role.key, draft);
      }
    }
    const all = [...permissions.keys()];
    const roles = new Map<string, BuiltinRole>();
    // System roles: Owner holds everything, Admin everything but owner-only permissions, Member
    // what the modules give it.
    roles.set('owner', { key: 'owner', name: 'Owner', kind: 'system', description: 'Every permission, including ownership transfer and workspace-wide sign-out', permissions: new Set(all) });
    roles.set('admin', {
      key: 'admin',
      name: 'Admin',
      kind: 'system',
      description: 'The Administrator: members, roles, settings and every module permission, except the owner-only ones',
      permissions: new Set(all.filter((p) => permissions.get(p)?.ownerOnly !== true)),
    });
    roles.set('member', { key: 'member', name: 'Member', kind: 'system', description: 'The baseline of every member', permissions: drafts.get('member')?.permissions ?? new Set() });
    for (const [key, draft] of drafts) {
      if ((SYSTEM_ROLES as readonly string[]).includes(key)) {
        if (key !== 'member') throw new Error(`modules cannot redefine the ${key} system role`);
        continue;
      }
      if (draft.name === undefined) throw new Error(`role ${key} gets permissions but no module names it`);
      roles.set(key, { key, name: draft.name, description: draft.description ?? '', kind: 'predefined', permissions: draft.permissions });
    }
    this.roles = roles;

    const policies = new Map<string, RecordPolicy>();
    for (const module of modules) {
      for (const [permission, policy] of Object.entries(module.policies ?? {})) {
        if (!permissions.has(permission)) throw new Error(`module ${module.id} has a policy for unknown permission ${permission}`);
        if (policies.has(permission)) throw new Error(`permission ${permission} has two policies`);
        policies.set(permission, policy);
      }
    }
    this.policies = policies;
  }

  has(permission: string): boolean {
    return this.permissions.has(permission);
  }

  isOwnerOnly(permission: string): boolean {
    return this.permissions.get(permission)?.ownerOnly === true;
  }

  systemRole(role: SystemRole): BuiltinRole {
    const r = this.roles.get(role);
    if (r === undefined) throw new Error(`no ${role} role`);
    return r;
  }
}
