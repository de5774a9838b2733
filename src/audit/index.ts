import { defineModule } from '../kernel/module.ts';

/**
 * The audit trail: events captured by triggers in the writing transaction, immutable, sealed into
 * a per-workspace hash chain with signed checkpoints, purged only past retention.
 */
export const auditModule = defineModule({
  id: 'audit',
  migrations: new URL('./sql/', import.meta.url),
});
