import { definePermissions, type RoleDefinition } from '../access/catalog.ts';
import { ORG_WIDE_SCOPE } from './rules.ts';

/** The expenses module's permissions (ACC-1). */
export const expensesPermissions = definePermissions({
  'expenses.submit': { description: 'Submit your own expense claims' },
  'expenses.read': { description: 'See your own expense claims and the departments' },
  'expenses.read_all': { description: "See every member's expense claims" },
  'expenses.approve': { description: 'Approve or reject claims, within the approval rules (your departments, your limit, never your own)' },
  [ORG_WIDE_SCOPE]: { description: 'Approve in every department, not only the ones you head' },
  'expenses.read_bank_details': { description: "See the payee's bank reference on claims" },
  'expenses.manage': { description: "Manage departments and their heads, members' departments and approval limits (never above your own limit)" },
});

export type ExpensesPermission = keyof typeof expensesPermissions;

const SUBMIT = ['expenses.submit', 'expenses.read'] as const;
const APPROVE = [...SUBMIT, 'expenses.read_all', 'expenses.approve'] as const;
const READ_ALL = ['expenses.read', 'expenses.read_all'] as const;

/** What expenses adds to the system Member role and the predefined roles (named by the access module). */
export const expensesRoles: readonly RoleDefinition[] = [
  { key: 'member', permissions: SUBMIT },
  { key: 'employee', permissions: SUBMIT },
  { key: 'contractor', permissions: SUBMIT },
  { key: 'manager', permissions: APPROVE },
  { key: 'finance_manager', permissions: [...APPROVE, ORG_WIDE_SCOPE, 'expenses.read_bank_details'] },
  { key: 'hr_manager', permissions: [...SUBMIT, 'expenses.manage'] },
  { key: 'project_manager', permissions: APPROVE },
  { key: 'team_lead', permissions: APPROVE },
  { key: 'compliance_officer', permissions: READ_ALL },
  { key: 'viewer', permissions: READ_ALL },
];

/**
 * Default approval limits per role, in cents; a workspace overrides them per role or per member
 * (tenant.expense_limits). Owners have no limit (rules.ts approvalLimit); a role not listed here
 * approves nothing until a limit is set for it.
 */
export const DEFAULT_ROLE_LIMITS_CENTS: ReadonlyMap<string, bigint> = new Map([
  ['team_lead', 100_000n],
  ['project_manager', 200_000n],
  ['manager', 500_000n],
  ['admin', 1_000_000n],
  ['finance_manager', 5_000_000n],
]);
