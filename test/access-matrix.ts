/**
 * The access matrix (issue 5, item 9): every route of the default app × a caller → the status it
 * must get. Data, not code: `src/access/matrix.test.ts` sends each request through HTTP with a real
 * session of a fresh member holding that role, and fails when a route is missing here.
 *
 * Columns, in order:
 *   anon     no session
 *   owner    system role Owner
 *   admin    system role Admin
 *   member   system role Member, no other role
 *   viewer   Member + predefined Viewer
 *   comply   Member + predefined Compliance Officer
 *   finance  Member + predefined Finance Manager
 *   hr       Member + predefined HR Manager
 *   manager  Member + predefined Manager
 *   pm       Member + predefined Project Manager
 *   lead     Member + predefined Team Lead
 *   employee Member + predefined Employee
 *   contr    Member + predefined Contractor
 *   support  Member + predefined Support Agent
 *
 * Every predefined role is also a Member, so its row differs from Member's only where the role adds
 * a permission. Approvers (manager, pm, lead) are refused the matrix claim by the department rule:
 * it sits in a department nobody heads (the rules themselves are tested in src/expenses).
 *
 * Public routes are called with inputs that fail the same way for everyone (a made-up token), so
 * their row shows that no caller is treated differently.
 */
import { AUDIT_MATRIX } from './access-matrix-audit.ts';

export const CALLERS = ['anon', 'owner', 'admin', 'member', 'viewer', 'comply', 'finance', 'hr', 'manager', 'pm', 'lead', 'employee', 'contractor', 'support'] as const;
export type Caller = (typeof CALLERS)[number];

//                                                                         anon owner admin member viewer comply finance hr  manager pm lead employee contr support
export const MATRIX: Readonly<Record<string, readonly number[]>> = {
  'GET /healthz':                                                          [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'GET /api/openapi.json':                                                 [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'POST /api/v1/auth/sign-in':                                             [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'POST /api/v1/auth/password-reset/request':                              [202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202],
  'POST /api/v1/auth/password-reset/complete':                             [410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410],
  'POST /api/v1/setup':                                                    [410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410],
  'POST /api/v1/invitations/accept':                                       [410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410, 410],
  'POST /api/v1/auth/sign-out':                                            [401, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204],
  'GET /api/v1/auth/session':                                              [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'GET /api/v1/me/sessions':                                               [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'DELETE /api/v1/me/sessions/:sessionId':                                 [401, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204],
  'POST /api/v1/me/sessions/revoke-others':                                [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'POST /api/v1/me/password':                                              [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'GET /api/v1/permissions':                                               [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'GET /api/v1/workspaces/:workspaceId/members':                           [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'PATCH /api/v1/workspaces/:workspaceId/members/:userId':                 [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'DELETE /api/v1/workspaces/:workspaceId/members/:userId':                [401, 204, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403],
  'GET /api/v1/workspaces/:workspaceId/members/:userId/sessions':          [401, 200, 200, 403, 403, 200, 403, 403, 403, 403, 403, 403, 403, 200],
  'POST /api/v1/workspaces/:workspaceId/members/:userId/sign-out':         [401, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200],
  'POST /api/v1/workspaces/:workspaceId/sessions/revoke-all':              [401, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403],
  'POST /api/v1/workspaces/:workspaceId/invitations':                      [401, 201, 201, 403, 403, 403, 403, 201, 403, 403, 403, 403, 403, 403],
  'GET /api/v1/workspaces/:workspaceId/invitations':                       [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'DELETE /api/v1/workspaces/:workspaceId/invitations/:invitationId':      [401, 204, 204, 403, 403, 403, 403, 204, 403, 403, 403, 403, 403, 403],
  'GET /api/v1/workspaces/:workspaceId/roles':                             [401, 200, 200, 403, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200],
  'POST /api/v1/workspaces/:workspaceId/roles':                            [401, 201, 201, 403, 403, 403, 403, 201, 403, 403, 403, 403, 403, 403],
  'PATCH /api/v1/workspaces/:workspaceId/roles/:roleId':                   [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'DELETE /api/v1/workspaces/:workspaceId/roles/:roleId':                  [401, 204, 204, 403, 403, 403, 403, 204, 403, 403, 403, 403, 403, 403],
  'GET /api/v1/workspaces/:workspaceId/roles/:roleKey/preview':            [401, 200, 200, 403, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200],
  'GET /api/v1/workspaces/:workspaceId/me/access':                         [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'GET /api/v1/workspaces/:workspaceId/members/:userId/roles':             [401, 200, 200, 403, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200],
  'POST /api/v1/workspaces/:workspaceId/members/:userId/roles':            [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'DELETE /api/v1/workspaces/:workspaceId/members/:userId/roles/:roleKey': [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'GET /api/v1/workspaces/:workspaceId/access/explain':                    [401, 200, 200, 403, 403, 200, 403, 200, 403, 403, 403, 403, 403, 200],
  'GET /api/v1/workspaces/:workspaceId/role-changes':                      [401, 200, 200, 403, 200, 200, 200, 200, 200, 403, 403, 403, 403, 200],
  'POST /api/v1/workspaces/:workspaceId/ownership/offer':                  [401, 201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403],
  'DELETE /api/v1/workspaces/:workspaceId/ownership/offer':                [401, 204, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403],
  'POST /api/v1/workspaces/:workspaceId/ownership/accept':                 [401, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204, 204],
  // Expenses. Everyone is a Member, and Member submits and reads their own claims; another
  // member's claim is 404 without expenses.read_all; approving needs expenses.approve (and the
  // rules: owner and admin approve anywhere, the Finance Manager organisation-wide).
  'GET /api/v1/workspaces/:workspaceId/departments':                       [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'POST /api/v1/workspaces/:workspaceId/departments':                      [401, 201, 201, 403, 403, 403, 403, 201, 403, 403, 403, 403, 403, 403],
  'PATCH /api/v1/workspaces/:workspaceId/departments/:departmentId':       [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'PATCH /api/v1/workspaces/:workspaceId/members/:userId/department':      [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'GET /api/v1/workspaces/:workspaceId/expenses/limits':                   [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'PATCH /api/v1/workspaces/:workspaceId/expenses/limits/roles/:role':     [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'DELETE /api/v1/workspaces/:workspaceId/expenses/limits/roles/:role':    [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'PATCH /api/v1/workspaces/:workspaceId/expenses/limits/members/:userId': [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'DELETE /api/v1/workspaces/:workspaceId/expenses/limits/members/:userId': [401, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403],
  'POST /api/v1/workspaces/:workspaceId/expenses/claims':                  [401, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201],
  'GET /api/v1/workspaces/:workspaceId/expenses/claims':                   [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  'GET /api/v1/workspaces/:workspaceId/expenses/claims/:claimId':          [401, 200, 200, 404, 200, 200, 200, 404, 200, 200, 200, 404, 404, 404],
  'GET /api/v1/workspaces/:workspaceId/expenses/claims/:claimId/history':  [401, 200, 200, 404, 200, 200, 200, 404, 200, 200, 200, 404, 404, 404],
  'POST /api/v1/workspaces/:workspaceId/expenses/claims/:claimId/approve': [401, 200, 200, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403, 403],
  'POST /api/v1/workspaces/:workspaceId/expenses/claims/:claimId/reject':  [401, 200, 200, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403, 403],
  // Audit search and export: rows in test/access-matrix-audit.ts.
  ...AUDIT_MATRIX,
};
