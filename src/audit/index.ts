import { defineModule } from '../kernel/module.ts';
import { auditErrors } from './errors.ts';
import { auditPermissions, auditRoles } from './permissions.ts';
import { auditRoutes } from './routes.ts';

/**
 * The audit trail: events captured by triggers in the writing transaction, immutable, sealed into
 * a per-workspace hash chain with signed checkpoints, purged only past retention.
 */
export const auditModule = defineModule({
  id: 'audit',
  migrations: new URL('./sql/', import.meta.url),
  // Search and CSV export (AUD-6).
  errors: auditErrors,
  permissions: auditPermissions,
  roles: auditRoles,
  async routes(app, { db }) {
    await auditRoutes(app, db);
  },
});
