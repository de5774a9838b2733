import { defineModule } from '../kernel/module.ts';
import { expensesErrors } from './errors.ts';
import { expensesPermissions, expensesRoles } from './permissions.ts';
import { approvalPolicy } from './policy.ts';
import { expensesRoutes } from './routes.ts';

/**
 * Expenses (MOD-2): departments with heads, expense claims with submit, approve, reject and a full
 * history, approval limits per role and per member; approvals under the ABAC rules of ACC-4
 * (rules.ts), the payee's bank reference masked by permission (ISO-7).
 */
export const expensesModule = defineModule({
  id: 'expenses',
  migrations: new URL('./sql/', import.meta.url),
  errors: expensesErrors,
  permissions: expensesPermissions,
  roles: expensesRoles,
  policies: { 'expenses.approve': approvalPolicy },
  async routes(app, { access }) {
    await expensesRoutes(app, access);
  },
});
