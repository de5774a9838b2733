import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace } from '../../test/db.ts';
import type { TestApp } from '../../test/http.ts';
import { call, identityApp, member, signIn, type Browser } from '../../test/identity.ts';

let h: TestApp;
beforeAll(async () => {
  h = await identityApp();
});
afterAll(async () => h.close());

interface Scene {
  ws: string;
  owner: { userId: string; browser: Browser };
  admin: { userId: string; browser: Browser };
  alice: { userId: string; browser: Browser };
  bob: { userId: string; browser: Browser };
}

async function person(ws: string, role: 'owner' | 'admin' | 'member') {
  const m = await member(h.t.db, ws, role);
  return { userId: m.userId, browser: await signIn(h.app, m.email) };
}

/** A workspace with an owner, an admin and two plain members, all signed in. */
async function scene(): Promise<Scene> {
  const ws = await createWorkspace(h.t.db);
  return { ws, owner: await person(ws, 'owner'), admin: await person(ws, 'admin'), alice: await person(ws, 'member'), bob: await person(ws, 'member') };
}

const url = (ws: string, path: string) => `/api/v1/workspaces/${ws}${path}`;
const assign = (s: Scene, by: Browser, userId: string, role: string) => call(h.app, by, 'POST', url(s.ws, `/members/${userId}/roles`), { role });

/** The access.denied events of a workspace, newest last. */
async function denials(ws: string): Promise<{ actor_user_id: string; new_values: { rule: string; permission?: string } }[]> {
  const { rows } = await h.t.admin.query<{ actor_user_id: string; new_values: { rule: string; permission?: string } }>(
    `SELECT actor_user_id, new_values FROM tenant.audit_events WHERE workspace_id = $1 AND event_type = 'access.denied' ORDER BY pos`,
    [ws],
  );
  return rows;
}

describe('ACC-1 the permission catalog', () => {
  it('lists every permission with its module; owner-only ones are marked', async () => {
    const s = await scene();
    const res = await call(h.app, s.alice.browser, 'GET', '/api/v1/permissions');
    expect(res.statusCode).toBe(200);
    const list = res.json<{ permissions: { id: string; module: string; ownerOnly: boolean }[] }>().permissions;
    expect(list).toEqual(expect.arrayContaining([
      expect.objectContaining({ id: 'members.invite', module: 'identity', ownerOnly: false }),
      expect.objectContaining({ id: 'roles.manage', module: 'access' }),
      expect.objectContaining({ id: 'ownership.transfer', ownerOnly: true }),
    ]));
    expect((await call(h.app, null, 'GET', '/api/v1/permissions')).statusCode).toBe(401);
  });

  it('a plain member is refused a permission they lack, with the permission named and an audit row', async () => {
    const s = await scene();
    const res = await call(h.app, s.alice.browser, 'GET', url(s.ws, '/roles'));
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'FORBIDDEN', rule: 'permission', permission: 'roles.read' });
    expect(await denials(s.ws)).toEqual([expect.objectContaining({ actor_user_id: s.alice.userId, new_values: expect.objectContaining({ rule: 'permission', permission: 'roles.read' }) as unknown })]);
  });
});

describe('ACC-2 ACC-3 roles: system, predefined, custom; the change applies on the next request', () => {
  it('lists the system roles (Admin is the Administrator), the ten predefined business roles and custom roles', async () => {
    const s = await scene();
    const created = await call(h.app, s.owner.browser, 'POST', url(s.ws, '/roles'), { name: 'Auditor lite', permissions: ['members.read', 'roles.read'] });
    expect(created.statusCode, created.body).toBe(201);
    const roles = (await call(h.app, s.admin.browser, 'GET', url(s.ws, '/roles'))).json<{ roles: { key: string; kind: string }[] }>().roles;
    const byKind = (k: string) => roles.filter((r) => r.kind === k).map((r) => r.key);
    expect(byKind('system')).toEqual(['owner', 'admin', 'member']);
    expect(byKind('predefined').sort()).toEqual([
      'compliance_officer', 'contractor', 'employee', 'finance_manager', 'hr_manager', 'manager',
      'project_manager', 'support_agent', 'team_lead', 'viewer',
    ]);
    expect(byKind('custom')).toEqual([created.json<{ key: string }>().key]);
  });

  it('assigning and taking back a predefined role changes what the member may do on their very next request', async () => {
    const s = await scene();
    expect((await call(h.app, s.alice.browser, 'GET', url(s.ws, '/roles'))).statusCode).toBe(403);
    expect((await assign(s, s.owner.browser, s.alice.userId, 'viewer')).statusCode).toBe(200);
    expect((await call(h.app, s.alice.browser, 'GET', url(s.ws, '/roles'))).statusCode).toBe(200);
    expect((await call(h.app, s.owner.browser, 'DELETE', url(s.ws, `/members/${s.alice.userId}/roles/viewer`))).statusCode).toBe(200);
    expect((await call(h.app, s.alice.browser, 'GET', url(s.ws, '/roles'))).statusCode).toBe(403);
  });

  it("editing or deleting a custom role changes its holders' permissions on their next request", async () => {
    const s = await scene();
    const role = (await call(h.app, s.owner.browser, 'POST', url(s.ws, '/roles'), { name: 'Session desk', permissions: ['sessions.read_any'] })).json<{ key: string }>();
    expect((await assign(s, s.owner.browser, s.alice.userId, role.key)).statusCode).toBe(200);
    const sessionsOfBob = () => call(h.app, s.alice.browser, 'GET', url(s.ws, `/members/${s.bob.userId}/sessions`));
    expect((await sessionsOfBob()).statusCode).toBe(200);
    expect((await call(h.app, s.owner.browser, 'PATCH', url(s.ws, `/roles/${role.key}`), { permissions: ['members.read'] })).statusCode).toBe(200);
    expect((await sessionsOfBob()).statusCode).toBe(403);
    expect((await call(h.app, s.owner.browser, 'PATCH', url(s.ws, `/roles/${role.key}`), { permissions: ['sessions.read_any'] })).statusCode).toBe(200);
    expect((await sessionsOfBob()).statusCode).toBe(200);
    expect((await call(h.app, s.owner.browser, 'DELETE', url(s.ws, `/roles/${role.key}`))).statusCode).toBe(204);
    expect((await sessionsOfBob()).statusCode).toBe(403);
  });

  it('refuses unknown and owner-only permissions, duplicate names, and edits of predefined roles', async () => {
    const s = await scene();
    const post = (body: object) => call(h.app, s.owner.browser, 'POST', url(s.ws, '/roles'), body);
    expect((await post({ name: 'X', permissions: ['members.read', 'nuclear.launch'] })).json()).toMatchObject({ code: 'UNKNOWN_PERMISSION', permissions: ['nuclear.launch'] });
    expect((await post({ name: 'X', permissions: ['ownership.transfer'] })).json()).toMatchObject({ code: 'OWNER_ONLY_PERMISSION' });
    expect((await post({ name: 'Dup', permissions: [] })).statusCode).toBe(201);
    expect((await post({ name: 'DUP', permissions: [] })).json()).toMatchObject({ code: 'ROLE_NAME_TAKEN' });
    expect((await post({ name: 'Y', permissions: [], workspaceId: s.ws })).statusCode).toBe(400);
    expect((await assign(s, s.owner.browser, s.alice.userId, 'admin')).json()).toMatchObject({ code: 'SYSTEM_ROLE_NOT_ASSIGNABLE' });
    expect((await assign(s, s.owner.browser, s.alice.userId, 'no_such_role')).json()).toMatchObject({ code: 'ROLE_NOT_FOUND' });
  });
});

describe('ACC-6 role management: nobody grants what they lack; the last owner stays; ownership moves in two steps', () => {
  it('an HR Manager manages roles only within their own permissions, never for themselves', async () => {
    const s = await scene();
    expect((await assign(s, s.owner.browser, s.alice.userId, 'hr_manager')).statusCode).toBe(200);
    // HR holds roles.manage but not sessions.revoke_any: they cannot put it in a role or hand out a role that has it.
    const escalate = await call(h.app, s.alice.browser, 'POST', url(s.ws, '/roles'), { name: 'Sneaky', permissions: ['members.read', 'sessions.revoke_any'] });
    expect(escalate.statusCode).toBe(403);
    expect(escalate.json()).toMatchObject({ code: 'FORBIDDEN', rule: 'no_escalation', permission: 'sessions.revoke_any' });
    const support = await assign(s, s.alice.browser, s.bob.userId, 'support_agent');
    expect(support.json()).toMatchObject({ rule: 'no_escalation' });
    expect((await assign(s, s.alice.browser, s.alice.userId, 'viewer')).json()).toMatchObject({ rule: 'no_self_grant' });
    // Within their permissions it works.
    expect((await assign(s, s.alice.browser, s.bob.userId, 'employee')).statusCode).toBe(200);
    // Nothing of the refused attempts was written; each refusal is in the audit trail.
    const roles = (await call(h.app, s.owner.browser, 'GET', url(s.ws, '/roles'))).json<{ roles: { name: string }[] }>().roles;
    expect(roles.map((r) => r.name)).not.toContain('Sneaky');
    expect((await call(h.app, s.owner.browser, 'GET', url(s.ws, `/members/${s.bob.userId}/roles`))).json<{ roles: { key: string }[] }>().roles.map((r) => r.key)).toEqual(['member', 'employee']);
    expect((await denials(s.ws)).map((d) => d.new_values.rule)).toEqual(['no_escalation', 'no_escalation', 'no_self_grant']);
  });

  it('an admin cannot make anyone an owner, nor invite one; an owner can', async () => {
    const s = await scene();
    const promote = await call(h.app, s.admin.browser, 'PATCH', url(s.ws, `/members/${s.alice.userId}`), { role: 'owner' });
    expect(promote.json()).toMatchObject({ code: 'FORBIDDEN', rule: 'no_escalation' });
    const self = await call(h.app, s.admin.browser, 'PATCH', url(s.ws, `/members/${s.admin.userId}`), { role: 'owner' });
    expect(self.json()).toMatchObject({ rule: 'no_escalation' });
    expect((await call(h.app, s.admin.browser, 'POST', url(s.ws, '/invitations'), { email: 'boss@example.com', role: 'owner' })).json()).toMatchObject({ rule: 'no_escalation' });
    expect((await call(h.app, s.admin.browser, 'PATCH', url(s.ws, `/members/${s.owner.userId}`), { role: 'member' })).json()).toMatchObject({ rule: 'owner_only' });
    expect((await call(h.app, s.owner.browser, 'PATCH', url(s.ws, `/members/${s.alice.userId}`), { role: 'admin' })).statusCode).toBe(200);
  });

  it('the last owner can be neither removed nor demoted, even by themselves', async () => {
    const s = await scene();
    expect((await call(h.app, s.owner.browser, 'PATCH', url(s.ws, `/members/${s.owner.userId}`), { role: 'admin' })).json()).toMatchObject({ code: 'LAST_OWNER' });
    expect((await call(h.app, s.owner.browser, 'DELETE', url(s.ws, `/members/${s.owner.userId}`))).json()).toMatchObject({ code: 'LAST_OWNER' });
    expect((await call(h.app, s.admin.browser, 'DELETE', url(s.ws, `/members/${s.owner.userId}`))).json()).toMatchObject({ rule: 'owner_only' });
  });

  it('owner transfer is an offer by the owner and an acceptance by the member; nobody else can take it', async () => {
    const s = await scene();
    expect((await call(h.app, s.admin.browser, 'POST', url(s.ws, '/ownership/offer'), { userId: s.alice.userId })).json())
      .toMatchObject({ code: 'FORBIDDEN', permission: 'ownership.transfer' });
    const offer = await call(h.app, s.owner.browser, 'POST', url(s.ws, '/ownership/offer'), { userId: s.alice.userId });
    expect(offer.statusCode, offer.body).toBe(201);
    const offerId = offer.json<{ id: string }>().id;
    // Only the member it was offered to can accept.
    expect((await call(h.app, s.bob.browser, 'POST', url(s.ws, '/ownership/accept'), { offerId })).json()).toMatchObject({ code: 'OWNERSHIP_OFFER_INVALID' });
    // Nothing changed yet: the offer alone grants nothing.
    expect((await call(h.app, s.alice.browser, 'GET', url(s.ws, '/roles'))).statusCode).toBe(403);
    expect((await call(h.app, s.alice.browser, 'POST', url(s.ws, '/ownership/accept'), { offerId })).statusCode).toBe(204);
    // Both memberships changed role, so both sign in again (ROLE_CHANGED), then act in their new roles.
    expect((await call(h.app, s.owner.browser, 'GET', url(s.ws, '/members'))).json()).toMatchObject({ code: 'ROLE_CHANGED' });
    const members = (await call(h.app, s.admin.browser, 'GET', url(s.ws, '/members'))).json<{ members: { userId: string; role: string }[] }>().members;
    expect(members.find((m) => m.userId === s.alice.userId)?.role).toBe('owner');
    expect(members.find((m) => m.userId === s.owner.userId)?.role).toBe('admin');
    // An accepted offer is spent.
    const alice2 = await signIn(h.app, (await h.t.admin.query<{ email: string }>('SELECT email FROM central.users WHERE id = $1', [s.alice.userId])).rows[0]?.email ?? '');
    expect((await call(h.app, alice2, 'POST', url(s.ws, '/ownership/accept'), { offerId })).json()).toMatchObject({ code: 'OWNERSHIP_OFFER_INVALID' });
  });

  it('a withdrawn or replaced offer cannot be accepted', async () => {
    const s = await scene();
    const first = (await call(h.app, s.owner.browser, 'POST', url(s.ws, '/ownership/offer'), { userId: s.alice.userId })).json<{ id: string }>().id;
    expect((await call(h.app, s.owner.browser, 'POST', url(s.ws, '/ownership/offer'), { userId: s.bob.userId })).statusCode).toBe(201);
    expect((await call(h.app, s.alice.browser, 'POST', url(s.ws, '/ownership/accept'), { offerId: first })).json()).toMatchObject({ code: 'OWNERSHIP_OFFER_INVALID' });
    expect((await call(h.app, s.owner.browser, 'DELETE', url(s.ws, '/ownership/offer'))).statusCode).toBe(204);
    expect((await call(h.app, s.owner.browser, 'POST', url(s.ws, '/ownership/offer'), { userId: s.owner.userId })).json()).toMatchObject({ code: 'OWNERSHIP_TARGET_INVALID' });
  });
});

describe('AUD-9 the role-change trail', () => {
  it('records every assignment, role edit and system role change with its actor, append-only', async () => {
    const s = await scene();
    const role = (await call(h.app, s.owner.browser, 'POST', url(s.ws, '/roles'), { name: 'Trail', permissions: ['members.read'] })).json<{ key: string }>();
    await assign(s, s.owner.browser, s.alice.userId, role.key);
    await assign(s, s.owner.browser, s.alice.userId, 'viewer');
    await call(h.app, s.owner.browser, 'DELETE', url(s.ws, `/members/${s.alice.userId}/roles/viewer`));
    await call(h.app, s.owner.browser, 'PATCH', url(s.ws, `/members/${s.bob.userId}`), { role: 'admin' });
    const res = await call(h.app, s.admin.browser, 'GET', url(s.ws, '/role-changes'));
    expect(res.statusCode).toBe(200);
    const changes = res.json<{ changes: { change: string; actorUserId: string; subjectUserId: string | null; role: string }[] }>().changes.reverse()
      .filter((c) => c.change !== 'member_added');
    expect(changes.map((c) => [c.change, c.role, c.subjectUserId])).toEqual([
      ['role_created', role.key, null],
      ['role_assigned', role.key, s.alice.userId],
      ['role_assigned', 'viewer', s.alice.userId],
      ['role_unassigned', 'viewer', s.alice.userId],
      ['system_role_changed', 'admin', s.bob.userId],
    ]);
    expect(new Set(changes.map((c) => c.actorUserId))).toEqual(new Set([s.owner.userId]));
    // Append-only, for the app and the owner role alike.
    await expect(h.t.admin.query(`UPDATE tenant.role_changes SET role = 'x' WHERE workspace_id = $1`, [s.ws])).rejects.toThrow();
    await expect(h.t.admin.query(`DELETE FROM tenant.role_changes WHERE workspace_id = $1`, [s.ws])).rejects.toThrow();
    // Each change is an audit event of the table it touched as well.
    const audited = await h.t.admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM tenant.audit_events WHERE workspace_id = $1 AND table_name = 'tenant.member_roles'`, [s.ws]);
    expect(Number(audited.rows[0]?.n)).toBe(3);
  });
});

describe('ACC-7 explain and preview', () => {
  it('says which roles give a permission, or that none does', async () => {
    const s = await scene();
    await assign(s, s.owner.browser, s.alice.userId, 'support_agent');
    const ask = (member: string, permission: string) =>
      call(h.app, s.admin.browser, 'GET', url(s.ws, `/access/explain?member=${member}&permission=${permission}`));
    expect((await ask(s.alice.userId, 'sessions.revoke_any')).json()).toMatchObject({
      allowed: true, decidedBy: { kind: 'role', roles: ['Support Agent'] }, roles: ['Member', 'Support Agent'],
    });
    expect((await ask(s.bob.userId, 'sessions.revoke_any')).json()).toMatchObject({ allowed: false, decidedBy: { kind: 'missing_permission' } });
    expect((await ask(s.bob.userId, 'no.such')).json()).toMatchObject({ code: 'UNKNOWN_PERMISSION' });
    // A plain member may not ask.
    expect((await call(h.app, s.bob.browser, 'GET', url(s.ws, `/access/explain?member=${s.alice.userId}&permission=roles.read`))).json())
      .toMatchObject({ code: 'FORBIDDEN', permission: 'access.explain' });
    // What explain says is what enforcement does.
    expect((await call(h.app, s.bob.browser, 'POST', url(s.ws, `/members/${s.alice.userId}/sign-out`))).statusCode).toBe(403);
    expect((await call(h.app, s.alice.browser, 'POST', url(s.ws, `/members/${s.bob.userId}/sign-out`))).statusCode).toBe(200);
  });

  it('previews what a role allows: its permissions and the routes they open', async () => {
    const s = await scene();
    const res = await call(h.app, s.admin.browser, 'GET', url(s.ws, '/roles/support_agent/preview'));
    expect(res.statusCode).toBe(200);
    const body = res.json<{ allows: { permission: string; routes: string[] }[] }>();
    expect(body.allows).toEqual(expect.arrayContaining([
      { permission: 'sessions.revoke_any', description: expect.any(String) as unknown, routes: ['POST /api/v1/workspaces/:workspaceId/members/:userId/sign-out'] },
    ]));
    expect(body.allows.map((a) => a.permission)).not.toContain('roles.manage');
  });
});

describe('ACC-5 the API tells a console what to show; the API and RLS check regardless', () => {
  it('lists my permissions and the routes they open, and narrows on the next request when a role goes', async () => {
    const s = await scene();
    await assign(s, s.owner.browser, s.alice.userId, 'support_agent');
    const mine = async () => (await call(h.app, s.alice.browser, 'GET', url(s.ws, '/me/access'))).json<{ permissions: string[]; routes: string[] }>();
    const before = await mine();
    expect(before.permissions).toContain('sessions.revoke_any');
    expect(before.routes).toContain('POST /api/v1/workspaces/:workspaceId/members/:userId/sign-out');
    expect(before.routes).not.toContain('POST /api/v1/workspaces/:workspaceId/roles');
    await call(h.app, s.owner.browser, 'DELETE', url(s.ws, `/members/${s.alice.userId}/roles/support_agent`));
    const after = await mine();
    expect(after.permissions).not.toContain('sessions.revoke_any');
    expect(after.routes).not.toContain('POST /api/v1/workspaces/:workspaceId/members/:userId/sign-out');
    // Hiding is a convenience: the API refuses the hidden route on its own.
    expect((await call(h.app, s.alice.browser, 'POST', url(s.ws, `/members/${s.bob.userId}/sign-out`))).statusCode).toBe(403);
  });
});
