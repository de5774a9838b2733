import { defineModule } from '../kernel/module.ts';

/**
 * The kernel's database layer (schemas, tenant context, the guarded bypass, the RLS helper) and
 * the workspace directory with the first workspace-scoped tables.
 */
export const tenancyModule = defineModule({
  id: 'tenancy',
  migrations: new URL('./sql/', import.meta.url),
});
