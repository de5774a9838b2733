import { defineModule } from '../kernel/module.ts';
import { definePermissions, type RoleDefinition } from './catalog.ts';
import { accessErrors } from './errors.ts';
import { accessRoutes } from './routes.ts';

export const accessPermissions = definePermissions({
  'roles.read': { description: "See roles, what they allow, members' roles and the role-change trail" },
  'roles.manage': { description: 'Create, edit, delete and assign roles (never beyond the permissions you hold)' },
  'access.explain': { description: 'Ask whether a member may do something and which role or rule decides' },
  'access.view_own': { description: 'See your own roles, permissions and the routes they open (what a console shows you)' },
  'ownership.transfer': { description: 'Offer the ownership of the workspace to another member', ownerOnly: true },
  'ownership.accept': { description: 'Accept an ownership offer made to you' },
});

/**
 * The predefined business roles (ACC-2), named here. There is no separate "Administrator": per
 * ACC-2 the seeds' Administrator is the Admin system role (one role, not two); each module adds its own permissions to them
 * by key. Their full permission sets are documented in docs/access.md.
 */
export const predefinedRoles: readonly RoleDefinition[] = [
  { key: 'member', permissions: ['ownership.accept', 'access.view_own'] },
  { key: 'manager', name: 'Manager', description: 'Approves the expenses of the department they head', permissions: ['roles.read'] },
  { key: 'finance_manager', name: 'Finance Manager', description: 'Approves expenses across the organisation up to a high limit; sees payment details', permissions: ['roles.read'] },
  { key: 'hr_manager', name: 'HR Manager', description: 'Invites people, manages memberships and departments, assigns roles', permissions: ['roles.read', 'roles.manage', 'access.explain'] },
  { key: 'project_manager', name: 'Project Manager', description: 'Approves small project expenses in their department', permissions: [] },
  { key: 'compliance_officer', name: 'Compliance Officer', description: 'Reads and exports the audit trail, explains access; changes nothing', permissions: ['roles.read', 'access.explain'] },
  { key: 'team_lead', name: 'Team Lead', description: 'Approves small expenses of the department they head', permissions: [] },
  { key: 'employee', name: 'Employee', description: 'Submits their own expenses', permissions: [] },
  { key: 'contractor', name: 'Contractor', description: 'An outside worker: submits their own expenses, nothing more than a Member', permissions: [] },
  { key: 'support_agent', name: 'Support Agent', description: "Helps members: sees and ends their sessions, explains access", permissions: ['roles.read', 'access.explain'] },
  { key: 'viewer', name: 'Viewer', description: 'Reads, changes nothing', permissions: ['roles.read'] },
];

/** Access control: permission catalog, roles, assignments, explain, owner transfer (ACC-1 … ACC-7). */
export const accessModule = defineModule({
  id: 'access',
  migrations: new URL('./sql/', import.meta.url),
  errors: accessErrors,
  permissions: accessPermissions,
  roles: predefinedRoles,
  async routes(app, { access }) {
    await accessRoutes(app, access);
  },
});
