import { definePermissions, type RoleDefinition } from '../access/catalog.ts';

/** The identity module's permissions (ACC-1). */
export const identityPermissions = definePermissions({
  'members.read': { description: 'See the members of the workspace' },
  'members.invite': { description: 'Invite people by e-mail, list and withdraw invitations' },
  'members.manage': { description: "Change a member's system role or deactivate them" },
  'members.remove': { description: 'Remove a member from the workspace' },
  'sessions.read_any': { description: "List another member's live sessions" },
  'sessions.revoke_any': { description: 'Sign another member out everywhere' },
  'sessions.revoke_workspace': { description: 'Sign every member of the workspace out at once', ownerOnly: true },
});

/** What identity gives the system Member role and the predefined roles that touch people. */
export const identityRoles: readonly RoleDefinition[] = [
  { key: 'member', permissions: ['members.read'] },
  { key: 'manager', permissions: ['members.read'] },
  { key: 'finance_manager', permissions: ['members.read'] },
  { key: 'hr_manager', permissions: ['members.read', 'members.invite', 'members.manage'] },
  { key: 'project_manager', permissions: ['members.read'] },
  { key: 'compliance_officer', permissions: ['members.read', 'sessions.read_any'] },
  { key: 'team_lead', permissions: ['members.read'] },
  { key: 'employee', permissions: ['members.read'] },
  { key: 'support_agent', permissions: ['members.read', 'sessions.read_any', 'sessions.revoke_any'] },
  { key: 'viewer', permissions: ['members.read'] },
];
