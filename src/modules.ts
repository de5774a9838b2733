import { auditModule } from './audit/index.ts';
import { healthModule } from './health/index.ts';
import type { ModuleDefinition } from './kernel/module.ts';
import { tenancyModule } from './tenancy/index.ts';

/** The modules a default Palisade server runs, in migration order. */
export const coreModules: readonly ModuleDefinition[] = [tenancyModule, auditModule, healthModule];
