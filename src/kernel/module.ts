import type { FastifyInstance } from 'fastify';
import type { PermissionCatalog, RecordPolicy, RoleDefinition, RouteAccess } from '../access/catalog.ts';
import type { AccessControl } from '../access/control.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { ErrorCatalog } from './errors.ts';

/** What a module's routes receive: explicit dependencies, no globals. */
export interface ModuleContext {
  db: Database;
  config: Config;
  /** Call after a commit that queued mail: the dispatcher sends it now rather than at its next poll. */
  mailQueued: () => void;
  /** Permission sets of members (ACC-2), from every module's catalog and roles. */
  access: AccessControl;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * What the route requires (ACC-1): `public` (no session), `signed-in` (any session, no
     * workspace), or a permission of the catalog, checked in the workspace the route names.
     * Required on every route: the app refuses to start with a route that does not declare it.
     */
    access?: RouteAccess;
  }
}

/**
 * A module is plain data handed to `createApp({ modules })`: no auto-discovery, no registry.
 * Its tables are covered by the RLS lint and the isolation harness without being listed anywhere.
 */
export interface ModuleDefinition {
  /** Lower-case id; also the prefix of its migration ids (`tenancy/0001_kernel.sql`). */
  id: string;
  /** Folder of numbered `NNNN_name.sql` migrations, applied in order as palisade_owner. */
  migrations?: URL;
  /** Public error codes this module may return. */
  errors?: ErrorCatalog;
  /** Named permissions of this module's actions (ACC-1). */
  permissions?: PermissionCatalog;
  /** Predefined roles this module declares, or its permissions added to roles declared elsewhere. */
  roles?: readonly RoleDefinition[];
  /** Attribute rules per permission, applied on a record (ACC-4) and used by explain (ACC-7). */
  policies?: Readonly<Record<string, RecordPolicy>>;
  /**
   * Cross-cutting hooks that must apply to every module's routes (the session module's CSRF and
   * Origin checks): registered on the root instance, before any module's routes.
   */
  global?: (app: FastifyInstance, ctx: ModuleContext) => Promise<void>;
  /** Registers the module's routes; runs in its own encapsulated Fastify plugin. */
  routes?: (app: FastifyInstance, ctx: ModuleContext) => Promise<void>;
}

const ID = /^[a-z][a-z0-9-]{0,39}$/;

export function defineModule<const M extends ModuleDefinition>(module: M): M {
  if (!ID.test(module.id)) throw new Error(`module id ${JSON.stringify(module.id)} must match ${ID.source}`);
  return module;
}
