import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AccessControl } from '../access/control.ts';
import { assertMaskPermissions } from '../access/masking.ts';
import { claimHistory, decideClaim, getClaim, listClaims, submitClaim } from './claims.ts';
import { createDepartment, listDepartments, setMemberDepartment, updateDepartment } from './departments.ts';
import { clearMemberLimit, clearRoleLimit, listLimits, setMemberLimit, setRoleLimit } from './limits.ts';
import { toCents } from './rules.ts';
import {
  CLAIM,
  CLAIM_EVENT,
  claimBody,
  claimListQuery,
  claimMask,
  claimParams,
  decisionBody,
  DEPARTMENT,
  departmentCreateBody,
  departmentParams,
  departmentUpdateBody,
  limitBody,
  LIMITS,
  memberDepartmentBody,
  memberParams,
  roleParams,
  workspaceParams,
} from './types.ts';

const WS = '/api/v1/workspaces/:workspaceId';

/** Departments, members' departments, approval limits, expense claims and their decisions. */
export async function expensesRoutes(app: FastifyInstance, access: AccessControl): Promise<void> {
  assertMaskPermissions(claimMask, access.catalog);
  const r = app.withTypeProvider<ZodTypeProvider>();
  const guard = app.guard;

  // Departments -------------------------------------------------------------------------------
  r.get(`${WS}/departments`, {
    config: { access: 'expenses.read' },
    schema: { summary: 'The departments and their heads', params: workspaceParams, response: { 200: z.object({ departments: z.array(DEPARTMENT) }) } },
  }, async (request) => ({ departments: await guard.workspace(request, (tx) => listDepartments(tx)) }));

  r.post(`${WS}/departments`, {
    config: { access: 'expenses.manage' },
    schema: { summary: 'Create a department, optionally with its head', params: workspaceParams, body: departmentCreateBody, response: { 201: DEPARTMENT } },
  }, async (request, reply) => reply.code(201).send(await guard.workspace(request, (tx, actor) => createDepartment(tx, actor, request.body))));

  r.patch(`${WS}/departments/:departmentId`, {
    config: { access: 'expenses.manage' },
    schema: { summary: 'Rename a department, move it, or change its head (null clears)', params: departmentParams, body: departmentUpdateBody, response: { 200: DEPARTMENT } },
  }, async (request) => guard.workspace(request, (tx) => updateDepartment(tx, request.params.departmentId, request.body)));

  r.patch(`${WS}/members/:userId/department`, {
    config: { access: 'expenses.manage' },
    schema: {
      summary: "Set a member's department (their claims go to it); null: none",
      params: memberParams,
      body: memberDepartmentBody,
      response: { 200: z.object({ userId: z.uuid(), departmentId: z.uuid().nullable() }) },
    },
  }, async (request) => guard.workspace(request, (tx) => setMemberDepartment(tx, request.params.userId, request.body.departmentId)));

  // Approval limits ---------------------------------------------------------------------------
  r.get(`${WS}/expenses/limits`, {
    config: { access: 'expenses.manage' },
    schema: { summary: 'Approval limits: defaults per role, overrides per role and per member, and yours', params: workspaceParams, response: { 200: LIMITS } },
  }, async (request) => guard.workspace(request, (tx, actor) => listLimits(tx, access, actor)));

  r.patch(`${WS}/expenses/limits/roles/:role`, {
    config: { access: 'expenses.manage' },
    schema: { summary: "Set a role's approval limit (not above your own)", params: roleParams, body: limitBody, response: { 200: LIMITS } },
  }, async (request) => guard.workspace(request, async (tx, actor) => {
    await setRoleLimit(tx, access, actor, request.params.role, toCents(request.body.limit));
    return listLimits(tx, access, actor);
  }));

  r.delete(`${WS}/expenses/limits/roles/:role`, {
    config: { access: 'expenses.manage' },
    schema: { summary: "Remove a role's override: back to its default", params: roleParams, response: { 200: LIMITS } },
  }, async (request) => guard.workspace(request, async (tx, actor) => {
    await clearRoleLimit(tx, access, actor, request.params.role);
    return listLimits(tx, access, actor);
  }));

  r.patch(`${WS}/expenses/limits/members/:userId`, {
    config: { access: 'expenses.manage' },
    schema: { summary: "Override one member's approval limit (not above your own)", params: memberParams, body: limitBody, response: { 200: LIMITS } },
  }, async (request) => guard.workspace(request, async (tx, actor) => {
    await setMemberLimit(tx, access, actor, request.params.userId, toCents(request.body.limit));
    return listLimits(tx, access, actor);
  }));

  r.delete(`${WS}/expenses/limits/members/:userId`, {
    config: { access: 'expenses.manage' },
    schema: { summary: "Remove a member's override: their roles' limit applies again", params: memberParams, response: { 200: LIMITS } },
  }, async (request) => guard.workspace(request, async (tx, actor) => {
    await clearMemberLimit(tx, access, actor, request.params.userId);
    return listLimits(tx, access, actor);
  }));

  // Claims ------------------------------------------------------------------------------------
  r.post(`${WS}/expenses/claims`, {
    config: { access: 'expenses.submit' },
    schema: { summary: 'Submit an expense claim in your department', params: workspaceParams, body: claimBody, response: { 201: CLAIM } },
  }, async (request, reply) => reply.code(201).send(await guard.workspace(request, async (tx, actor) => claimMask.apply(actor, await submitClaim(tx, actor, request.body)))));

  r.get(`${WS}/expenses/claims`, {
    config: { access: 'expenses.read' },
    schema: {
      summary: 'Expense claims, newest first: yours, or all with expenses.read_all',
      params: workspaceParams,
      querystring: claimListQuery,
      response: { 200: z.object({ claims: z.array(CLAIM), nextCursor: z.string().nullable() }) },
    },
  }, async (request) => guard.workspace(request, async (tx, actor) => {
    const page = await listClaims(tx, actor, request.query);
    return { claims: claimMask.applyAll(actor, page.claims), nextCursor: page.nextCursor };
  }));

  r.get(`${WS}/expenses/claims/:claimId`, {
    config: { access: 'expenses.read' },
    schema: { summary: 'One expense claim (yours, or any with expenses.read_all)', params: claimParams, response: { 200: CLAIM } },
  }, async (request) => guard.workspace(request, async (tx, actor) => claimMask.apply(actor, await getClaim(tx, actor, request.params.claimId))));

  r.get(`${WS}/expenses/claims/:claimId/history`, {
    config: { access: 'expenses.read' },
    schema: { summary: "A claim's full history: every submission and decision", params: claimParams, response: { 200: z.object({ events: z.array(CLAIM_EVENT) }) } },
  }, async (request) => ({ events: await guard.workspace(request, (tx, actor) => claimHistory(tx, actor, request.params.claimId)) }));

  for (const [verb, outcome] of [['approve', 'approved'], ['reject', 'rejected']] as const) {
    r.post(`${WS}/expenses/claims/:claimId/${verb}`, {
      config: { access: 'expenses.approve' },
      schema: {
        summary: `${verb === 'approve' ? 'Approve' : 'Reject'} a claim: never your own, only in departments you head (unless organisation-wide), up to your limit`,
        params: claimParams,
        body: decisionBody,
        response: { 200: CLAIM },
      },
    }, async (request) => guard.workspace(request, async (tx, actor) =>
      claimMask.apply(actor, await decideClaim(tx, access, actor, request.params.claimId, { outcome, note: request.body.note }))));
  }
}
