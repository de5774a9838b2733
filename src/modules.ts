import { accessModule } from './access/index.ts';
import { auditModule } from './audit/index.ts';
import { expensesModule } from './expenses/index.ts';
import { healthModule } from './health/index.ts';
import { identityModule } from './identity/index.ts';
import type { ModuleDefinition } from './kernel/module.ts';
import { notifyModule } from './notify/index.ts';
import { tenancyModule } from './tenancy/index.ts';

/** The modules a default Palisade server runs, in migration order. */
export const coreModules: readonly ModuleDefinition[] = [tenancyModule, auditModule, notifyModule, identityModule, accessModule, expensesModule, healthModule];
