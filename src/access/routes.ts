import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { recordEvent } from '../audit/events.ts';
import type { AccessControl } from './control.ts';
import { explain } from './explain.ts';
import { acceptOwnership, offerOwnership, withdrawOwnershipOffer } from './ownership.ts';
import { assignRole, createRole, deleteRole, findRole, listRoles, memberRoles, unassignRole, updateRole } from './roles.ts';

const workspaceParams = z.object({ workspaceId: z.uuid() });
const memberParams = workspaceParams.extend({ userId: z.uuid() });
/** A predefined role's key or a custom role's id. */
const roleKey = z.string().regex(/^(?:[a-z][a-z0-9_]{0,62}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/);
const permissionId = z.string().max(100);
const roleBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  description: z.string().max(500).optional(),
  permissions: z.array(permissionId).max(500),
});

const ROLE = z.object({
  key: z.string(),
  name: z.string(),
  description: z.string(),
  kind: z.enum(['system', 'predefined', 'custom']),
  permissions: z.array(z.string()),
});
const MEMBER_ROLES = z.object({
  userId: z.uuid(),
  systemRole: z.enum(['owner', 'admin', 'member']),
  roles: z.array(z.object({ key: z.string(), name: z.string(), kind: z.enum(['system', 'predefined', 'custom']) })),
  permissions: z.array(z.string()),
});

/** Permission catalog, roles, role assignments, explain, owner transfer. */
export async function accessRoutes(app: FastifyInstance, access: AccessControl): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const guard = app.guard;

  r.get('/api/v1/permissions', {
    config: { access: 'signed-in' },
    schema: {
      summary: 'The permission catalog (ACC-1)',
      response: { 200: z.object({ permissions: z.array(z.object({ id: z.string(), description: z.string(), module: z.string(), ownerOnly: z.boolean() })) }) },
    },
  }, async (request) => {
    await guard.session(request);
    return {
    permissions: [...access.catalog.permissions].map(([id, p]) => ({ id, description: p.description, module: p.module, ownerOnly: p.ownerOnly === true })),
    };
  });

  r.get('/api/v1/workspaces/:workspaceId/roles', {
    config: { access: 'roles.read' },
    schema: { summary: 'System, predefined and custom roles with their permissions', params: workspaceParams, response: { 200: z.object({ roles: z.array(ROLE) }) } },
  }, async (request) => ({ roles: await guard.workspace(request, (tx) => listRoles(tx, access)) }));

  r.post('/api/v1/workspaces/:workspaceId/roles', {
    config: { access: 'roles.manage' },
    schema: { summary: 'Create a custom role (only from permissions you hold)', params: workspaceParams, body: roleBody, response: { 201: ROLE } },
  }, async (request, reply) => reply.code(201).send(await guard.workspace(request, (tx, actor) => createRole(tx, access, actor, request.body))));

  r.patch('/api/v1/workspaces/:workspaceId/roles/:roleId', {
    config: { access: 'roles.manage' },
    schema: { summary: 'Edit a custom role', params: workspaceParams.extend({ roleId: z.uuid() }), body: roleBody.partial(), response: { 200: ROLE } },
  }, async (request) => guard.workspace(request, (tx, actor) => updateRole(tx, access, actor, request.params.roleId, request.body)));

  r.delete('/api/v1/workspaces/:workspaceId/roles/:roleId', {
    config: { access: 'roles.manage' },
    schema: { summary: 'Delete a custom role (its holders lose it on their next request)', params: workspaceParams.extend({ roleId: z.uuid() }) },
  }, async (request, reply) => {
    await guard.workspace(request, (tx, actor) => deleteRole(tx, access, actor, request.params.roleId));
    return reply.code(204).send();
  });

  r.get('/api/v1/workspaces/:workspaceId/roles/:roleKey/preview', {
    config: { access: 'roles.read' },
    schema: {
      summary: 'What a role allows: its permissions and the routes they open (ACC-7)',
      params: workspaceParams.extend({ roleKey }),
      response: {
        200: ROLE.extend({
          allows: z.array(z.object({ permission: z.string(), description: z.string(), routes: z.array(z.string()) })),
        }),
      },
    },
  }, async (request) => guard.workspace(request, async (tx) => {
    const role = await findRole(tx, access, request.params.roleKey);
    const allows = role.permissions.map((permission) => ({
      permission,
      description: access.catalog.permissions.get(permission)?.description ?? '',
      routes: access.routes.filter((route) => route.access === permission).map((route) => `${route.method} ${route.url}`),
    }));
    return { ...role, allows };
  }));

  r.get('/api/v1/workspaces/:workspaceId/me/access', {
    config: { access: 'access.view_own' },
    schema: {
      summary: 'My roles, permissions and the routes they open here: a console hides the rest (ACC-5)',
      params: workspaceParams,
      response: { 200: MEMBER_ROLES.extend({ routes: z.array(z.string()) }) },
    },
  }, async (request) => guard.workspace(request, async (_tx, actor) => ({
    userId: actor.userId,
    systemRole: actor.systemRole,
    roles: [...actor.roles],
    permissions: [...actor.permissions].sort(),
    routes: access.routes.filter((route) => route.access === 'public' || route.access === 'signed-in' || actor.can(route.access)).map((route) => `${route.method} ${route.url}`),
  })));

  r.get('/api/v1/workspaces/:workspaceId/members/:userId/roles', {
    config: { access: 'roles.read' },
    schema: { summary: "A member's roles and effective permissions", params: memberParams, response: { 200: MEMBER_ROLES } },
  }, async (request) => guard.workspace(request, (tx, actor) => memberRoles(tx, access, actor.workspaceId, request.params.userId)));

  r.post('/api/v1/workspaces/:workspaceId/members/:userId/roles', {
    config: { access: 'roles.manage' },
    schema: { summary: 'Give a member a predefined or custom role', params: memberParams, body: z.strictObject({ role: roleKey }), response: { 200: MEMBER_ROLES } },
  }, async (request) => guard.workspace(request, (tx, actor) => assignRole(tx, access, actor, request.params.userId, request.body.role)));

  r.delete('/api/v1/workspaces/:workspaceId/members/:userId/roles/:roleKey', {
    config: { access: 'roles.manage' },
    schema: { summary: 'Take a role back from a member', params: memberParams.extend({ roleKey }), response: { 200: MEMBER_ROLES } },
  }, async (request) => guard.workspace(request, (tx, actor) => unassignRole(tx, access, actor, request.params.userId, request.params.roleKey)));

  r.get('/api/v1/workspaces/:workspaceId/access/explain', {
    config: { access: 'access.explain' },
    schema: {
      summary: 'Whether a member may use a permission (on a record), and which role or rule decides (ACC-7)',
      params: workspaceParams,
      querystring: z.strictObject({ member: z.uuid(), permission: permissionId, record: z.string().max(100).optional() }),
    },
  }, async (request) => guard.workspace(request, async (tx, actor) => {
    const answer = await explain(tx, access, actor.workspaceId, request.query);
    await recordEvent(tx, { eventType: 'access.explained', action: 'VIEW', recordId: request.query.member, newValues: { ...request.query, allowed: answer.allowed } });
    return answer;
  }));

  r.get('/api/v1/workspaces/:workspaceId/role-changes', {
    config: { access: 'roles.read' },
    schema: {
      summary: 'The role-change trail (AUD-9), newest first',
      params: workspaceParams,
      querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(100) }),
    },
  }, async (request) => guard.workspace(request, async (tx) => {
    const { rows } = await tx.query(
      `SELECT id, occurred_at AS "occurredAt", actor_user_id AS "actorUserId", change, subject_user_id AS "subjectUserId",
              role, old_value AS "oldValue", new_value AS "newValue"
         FROM tenant.role_changes ORDER BY occurred_at DESC, id LIMIT $1`,
      [request.query.limit],
    );
    return { changes: rows };
  }));

  r.post('/api/v1/workspaces/:workspaceId/ownership/offer', {
    config: { access: 'ownership.transfer' },
    schema: {
      summary: 'Offer ownership to another member (step one of two)',
      params: workspaceParams,
      body: z.strictObject({ userId: z.uuid() }),
      response: { 201: z.object({ id: z.uuid(), toUserId: z.uuid(), expiresAt: z.date() }) },
    },
  }, async (request, reply) => reply.code(201).send(await guard.workspace(request, (tx, actor) => offerOwnership(tx, actor, request.body.userId))));

  r.delete('/api/v1/workspaces/:workspaceId/ownership/offer', {
    config: { access: 'ownership.transfer' },
    schema: { summary: 'Withdraw the open ownership offer', params: workspaceParams },
  }, async (request, reply) => {
    await guard.workspace(request, (tx) => withdrawOwnershipOffer(tx));
    return reply.code(204).send();
  });

  r.post('/api/v1/workspaces/:workspaceId/ownership/accept', {
    config: { access: 'ownership.accept' },
    schema: { summary: 'Accept an ownership offer made to you (step two); you then sign in again', params: workspaceParams, body: z.strictObject({ offerId: z.uuid() }) },
  }, async (request, reply) => {
    await guard.workspace(request, (tx, actor) => acceptOwnership(tx, actor, request.body.offerId));
    return reply.code(204).send();
  });
}
