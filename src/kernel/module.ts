import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { ErrorCatalog } from './errors.ts';

/** What a module's routes receive: explicit dependencies, no globals. */
export interface ModuleContext {
  db: Database;
  config: Config;
  /** Call after a commit that queued mail: the dispatcher sends it now rather than at its next poll. */
  mailQueued: () => void;
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
