import { definePermissions, type RoleDefinition } from '../access/catalog.ts';

/** The audit module's permissions (ACC-1, AUD-6). */
export const auditPermissions = definePermissions({
  'audit.read': { description: "Search the workspace's audit trail" },
  'audit.export': { description: "Export the workspace's audit trail as CSV" },
});

/**
 * What the audit module gives the predefined roles (named by the access module). Owner and Admin
 * hold every permission anyway; Viewer and the rest get neither.
 */
export const auditRoles: readonly RoleDefinition[] = [
  { key: 'compliance_officer', permissions: ['audit.read', 'audit.export'] },
];
