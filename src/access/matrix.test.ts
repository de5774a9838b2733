import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLERS, MATRIX, type Caller } from '../../test/access-matrix.ts';
import { createWorkspace, uniqueSlug } from '../../test/db.ts';
import type { TestApp } from '../../test/http.ts';
import { call, identityApp, member, PASSWORD, signIn, type Browser } from '../../test/identity.ts';
import { AUDIT_RECIPES } from '../../test/access-matrix-audit.ts';
import { EXPENSE_RECIPES } from '../../test/access-matrix-expenses.ts';

let h: TestApp;
beforeAll(async () => {
  h = await identityApp();
});
afterAll(async () => h.close());

export interface Person {
  userId: string;
  email: string;
}

/** What a recipe gets: a workspace of its own, its first owner, the caller, and a way to add members. */
export interface Ctx {
  app: TestApp;
  ws: string;
  owner: Person;
  /** The caller (null for anon). */
  actor: Person | null;
  /** A fresh active member (the target of member routes). */
  fresh(role?: 'owner' | 'admin' | 'member', predefined?: string): Promise<Person>;
  /** Runs SQL in the workspace as the app would, with the first owner as actor. */
  sql<R extends object>(text: string, params?: unknown[]): Promise<R[]>;
}

export type Recipe = (c: Ctx) => Promise<{ url: string; body?: object }>;

const ws = (c: Ctx, path = '') => `/api/v1/workspaces/${c.ws}${path}`;
const badToken = () => randomBytes(32).toString('base64url');

/** How to make a request to each route that its permitted callers can complete. */
const RECIPES: Record<string, Recipe> = {
  'GET /healthz': async () => ({ url: '/healthz' }),
  'GET /api/openapi.json': async () => ({ url: '/api/openapi.json' }),
  'POST /api/v1/auth/sign-in': async (c) => {
    const p = await c.fresh();
    return { url: '/api/v1/auth/sign-in', body: { email: p.email, password: PASSWORD } };
  },
  'POST /api/v1/auth/password-reset/request': async () => ({ url: '/api/v1/auth/password-reset/request', body: { email: `${uniqueSlug('x')}@example.com` } }),
  'POST /api/v1/auth/password-reset/complete': async () => ({ url: '/api/v1/auth/password-reset/complete', body: { token: badToken(), password: 'Another-Strong-Pass-42!' } }),
  'POST /api/v1/setup': async () => ({
    url: '/api/v1/setup',
    body: { token: badToken(), workspaceName: 'W', workspaceSlug: uniqueSlug('w'), email: `${uniqueSlug('s')}@example.com`, password: 'Another-Strong-Pass-42!' },
  }),
  'POST /api/v1/invitations/accept': async (c) => ({ url: '/api/v1/invitations/accept', body: { workspaceId: c.ws, token: badToken(), password: 'Another-Strong-Pass-42!' } }),
  'POST /api/v1/auth/sign-out': async () => ({ url: '/api/v1/auth/sign-out' }),
  'GET /api/v1/auth/session': async () => ({ url: '/api/v1/auth/session' }),
  'GET /api/v1/me/sessions': async () => ({ url: '/api/v1/me/sessions' }),
  'DELETE /api/v1/me/sessions/:sessionId': async (c) => {
    // The caller's second session, signed in from another device.
    if (c.actor === null) return { url: `/api/v1/me/sessions/${randomUUID()}` };
    const other = await signIn(c.app.app, c.actor.email);
    const sessions = await c.sql<{ id: string }>('SELECT id FROM central.sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1', [other.userId]);
    return { url: `/api/v1/me/sessions/${sessions[0]?.id ?? ''}` };
  },
  'POST /api/v1/me/sessions/revoke-others': async () => ({ url: '/api/v1/me/sessions/revoke-others' }),
  'POST /api/v1/me/password': async () => ({ url: '/api/v1/me/password', body: { currentPassword: PASSWORD, newPassword: `Fresh-${randomUUID()}-Pw9!` } }),
  'GET /api/v1/permissions': async () => ({ url: '/api/v1/permissions' }),
  'GET /api/v1/workspaces/:workspaceId/members': async (c) => ({ url: ws(c, '/members') }),
  'PATCH /api/v1/workspaces/:workspaceId/members/:userId': async (c) => ({ url: ws(c, `/members/${(await c.fresh()).userId}`), body: { status: 'deactivated' } }),
  'DELETE /api/v1/workspaces/:workspaceId/members/:userId': async (c) => ({ url: ws(c, `/members/${(await c.fresh()).userId}`) }),
  'GET /api/v1/workspaces/:workspaceId/members/:userId/sessions': async (c) => ({ url: ws(c, `/members/${(await c.fresh()).userId}/sessions`) }),
  'POST /api/v1/workspaces/:workspaceId/members/:userId/sign-out': async (c) => ({ url: ws(c, `/members/${(await c.fresh()).userId}/sign-out`) }),
  'POST /api/v1/workspaces/:workspaceId/sessions/revoke-all': async (c) => ({ url: ws(c, '/sessions/revoke-all') }),
  'POST /api/v1/workspaces/:workspaceId/invitations': async (c) => ({ url: ws(c, '/invitations'), body: { email: `${uniqueSlug('inv')}@example.com`, role: 'member' } }),
  'GET /api/v1/workspaces/:workspaceId/invitations': async (c) => ({ url: ws(c, '/invitations') }),
  'DELETE /api/v1/workspaces/:workspaceId/invitations/:invitationId': async (c) => {
    const rows = await c.sql<{ id: string }>(
      `INSERT INTO tenant.invitations (workspace_id, email_normalized, role, token_hash, expires_at)
       VALUES ($1, $2, 'member', $3, now() + interval '1 hour') RETURNING id`,
      [c.ws, `${uniqueSlug('inv')}@example.com`, randomBytes(32)],
    );
    return { url: ws(c, `/invitations/${rows[0]?.id ?? ''}`) };
  },
  'GET /api/v1/workspaces/:workspaceId/roles': async (c) => ({ url: ws(c, '/roles') }),
  'POST /api/v1/workspaces/:workspaceId/roles': async (c) => ({ url: ws(c, '/roles'), body: { name: uniqueSlug('role'), permissions: ['members.read'] } }),
  'PATCH /api/v1/workspaces/:workspaceId/roles/:roleId': async (c) => ({ url: ws(c, `/roles/${await customRole(c)}`), body: { name: uniqueSlug('renamed') } }),
  'DELETE /api/v1/workspaces/:workspaceId/roles/:roleId': async (c) => ({ url: ws(c, `/roles/${await customRole(c)}`) }),
  'GET /api/v1/workspaces/:workspaceId/roles/:roleKey/preview': async (c) => ({ url: ws(c, '/roles/viewer/preview') }),
  'GET /api/v1/workspaces/:workspaceId/me/access': async (c) => ({ url: ws(c, '/me/access') }),
  'GET /api/v1/workspaces/:workspaceId/members/:userId/roles': async (c) => ({ url: ws(c, `/members/${c.owner.userId}/roles`) }),
  'POST /api/v1/workspaces/:workspaceId/members/:userId/roles': async (c) => ({ url: ws(c, `/members/${(await c.fresh()).userId}/roles`), body: { role: 'employee' } }),
  'DELETE /api/v1/workspaces/:workspaceId/members/:userId/roles/:roleKey': async (c) => ({ url: ws(c, `/members/${(await c.fresh('member', 'employee')).userId}/roles/employee`) }),
  'GET /api/v1/workspaces/:workspaceId/access/explain': async (c) => ({ url: ws(c, `/access/explain?member=${c.owner.userId}&permission=members.read`) }),
  'GET /api/v1/workspaces/:workspaceId/role-changes': async (c) => ({ url: ws(c, '/role-changes') }),
  'POST /api/v1/workspaces/:workspaceId/ownership/offer': async (c) => ({ url: ws(c, '/ownership/offer'), body: { userId: (await c.fresh()).userId } }),
  'DELETE /api/v1/workspaces/:workspaceId/ownership/offer': async (c) => {
    await openOffer(c, c.owner.userId, (await c.fresh()).userId);
    return { url: ws(c, '/ownership/offer') };
  },
  'POST /api/v1/workspaces/:workspaceId/ownership/accept': async (c) => {
    // From an owner of its own: an accepted offer demotes the owner who made it.
    const offerId = await openOffer(c, (await c.fresh('owner')).userId, c.actor?.userId ?? randomUUID());
    return { url: ws(c, '/ownership/accept'), body: { offerId } };
  },
  ...EXPENSE_RECIPES,
  ...AUDIT_RECIPES,
};

/** Replaces the workspace's open ownership offer (there is at most one) with a new one. */
async function openOffer(c: Ctx, from: string, to: string): Promise<string> {
  await c.sql('UPDATE tenant.ownership_offers SET withdrawn_at = now() WHERE workspace_id = $1 AND accepted_at IS NULL AND withdrawn_at IS NULL', [c.ws]);
  const rows = await c.sql<{ id: string }>(
    `INSERT INTO tenant.ownership_offers (workspace_id, from_user_id, to_user_id, expires_at) VALUES ($1, $2, $3, now() + interval '1 hour') RETURNING id`,
    [c.ws, from, to],
  );
  return rows[0]?.id ?? '';
}

async function customRole(c: Ctx): Promise<string> {
  const rows = await c.sql<{ id: string }>(`INSERT INTO tenant.roles (workspace_id, name, permissions) VALUES ($1, $2, '{members.read}') RETURNING id`, [c.ws, uniqueSlug('custom')]);
  return rows[0]?.id ?? '';
}

const PREDEFINED: Partial<Record<Caller, string>> = {
  viewer: 'viewer', comply: 'compliance_officer', finance: 'finance_manager', hr: 'hr_manager', manager: 'manager',
  pm: 'project_manager', lead: 'team_lead', employee: 'employee', contractor: 'contractor', support: 'support_agent',
};

/** A fresh member of `wsId` with a system role and optionally a predefined role. */
async function newMember(wsId: string, role: 'owner' | 'admin' | 'member', predefined?: string): Promise<Person> {
  const p = await member(h.t.db, wsId, role);
  if (predefined !== undefined) {
    await h.t.db.withSystem('test: assign a predefined role', (tx) =>
      tx.query('INSERT INTO tenant.member_roles (workspace_id, user_id, role_key) VALUES ($1, $2, $3)', [wsId, p.userId, predefined]));
  }
  return p;
}

function methodOf(route: string): 'GET' | 'POST' | 'PATCH' | 'DELETE' {
  const m = route.split(' ')[0];
  if (m === 'GET' || m === 'POST' || m === 'PATCH' || m === 'DELETE') return m;
  throw new Error(`unexpected method in ${route}`);
}

function registeredRoutes(): string[] {
  return [...new Set(h.app.access.routes.map((r) => `${r.method} ${r.url}`))];
}

describe('ACC-1 ACC-2 access matrix: every route × every role (3 system, 10 predefined) and anonymous, through HTTP', () => {
  it('lists every route of the app, and only those', () => {
    const routes = registeredRoutes();
    expect(routes.filter((r) => !(r in MATRIX)), 'routes missing from test/access-matrix.ts').toEqual([]);
    expect(Object.keys(MATRIX).filter((r) => !routes.includes(r)), 'matrix rows for routes that do not exist').toEqual([]);
    expect(Object.keys(MATRIX).filter((r) => !(r in RECIPES)), 'routes without a recipe').toEqual([]);
    for (const [route, row] of Object.entries(MATRIX)) expect(row, route).toHaveLength(CALLERS.length);
  });

  for (const route of Object.keys(MATRIX)) {
    it(route, async () => {
      const expected = MATRIX[route] ?? [];
      const recipe = RECIPES[route];
      if (recipe === undefined) throw new Error(`no recipe for ${route}`);
      const wsId = await createWorkspace(h.t.db);
      const owner = await newMember(wsId, 'owner');
      const got: number[] = [];
      const bodies: string[] = [];
      for (const caller of CALLERS) {
        const actor = caller === 'anon' ? null : await newMember(wsId, caller === 'owner' || caller === 'admin' ? caller : 'member', PREDEFINED[caller]);
        const browser: Browser | null = actor === null ? null : await signIn(h.app, actor.email);
        const ctx: Ctx = {
          app: h,
          ws: wsId,
          owner,
          actor,
          fresh: (role = 'member', predefined) => newMember(wsId, role, predefined),
          sql: async (text, params = []) =>
            (await h.t.db.withSystem('test: matrix fixture', (tx) => tx.query(text, params))).rows as never,
        };
        const req = await recipe(ctx);
        const res = await call(h.app, browser, methodOf(route), req.url, req.body);
        got.push(res.statusCode);
        bodies.push(`${caller}: ${res.statusCode} ${res.body.slice(0, 160)}`);
      }
      expect(got, `${route}\n${bodies.join('\n')}`).toEqual(expected);
    });
  }
});

/** A fresh workspace with an owner signed in, and the context recipes need. */
async function ownerScene(): Promise<{ ctx: Ctx; browser: Browser }> {
  const wsId = await createWorkspace(h.t.db);
  const owner = await newMember(wsId, 'owner');
  const ctx: Ctx = {
    app: h,
    ws: wsId,
    owner,
    actor: owner,
    fresh: (role = 'member', predefined) => newMember(wsId, role, predefined),
    sql: async (text, params = []) => (await h.t.db.withSystem('test: matrix fixture', (tx) => tx.query(text, params))).rows as never,
  };
  return { ctx, browser: await signIn(h.app, owner.email) };
}

describe('ACC-1 ISO-1 request bodies carry only what the route takes', () => {
  const extras = { workspaceId: randomUUID(), userId: randomUUID(), role: 'owner', status: 'approved', submitterId: randomUUID(), isAdmin: true };
  for (const route of Object.keys(MATRIX)) {
    const method = methodOf(route);
    if (method === 'GET') continue;
    it(`${route}: unknown fields are refused (or ignored by routes without a body), __proto__ too`, async () => {
      const { ctx, browser } = await ownerScene();
      const req = await (RECIPES[route] as Recipe)(ctx);
      if (req.body === undefined) {
        // A route that takes no body ignores one: the outcome is the owner's usual one.
        const res = await call(h.app, browser, method, req.url, extras);
        expect(res.statusCode, res.body).toBe(MATRIX[route]?.[1]);
        return;
      }
      const added = Object.fromEntries(Object.entries(extras).filter(([k]) => !(k in (req.body as object))));
      const res = await call(h.app, browser, method, req.url, { ...req.body, ...added });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
      const proto = await h.app.inject({
        method, url: req.url, remoteAddress: browser.ip,
        cookies: { palisade_session: browser.cookie }, headers: { 'x-csrf-token': browser.csrf, 'content-type': 'application/json' },
        payload: `{"__proto__": {"isAdmin": true}, ${JSON.stringify(req.body).slice(1)}`,
      });
      expect(proto.statusCode, proto.body).toBe(400);
    });
  }
});

describe("ISO-1 another workspace's ids are 404, never someone else's record", () => {
  it('member, role, invitation and offer ids of workspace B do not reach B from A', async () => {
    const a = await ownerScene();
    const b = await ownerScene();
    const bMember = await b.ctx.fresh();
    const bRole = await customRole(b.ctx);
    const bInvitation = (await b.ctx.sql<{ id: string }>(
      `INSERT INTO tenant.invitations (workspace_id, email_normalized, role, token_hash, expires_at)
       VALUES ($1, $2, 'member', $3, now() + interval '1 hour') RETURNING id`, [b.ctx.ws, `${uniqueSlug('inv')}@example.com`, randomBytes(32)]))[0]?.id ?? '';
    const bOffer = await openOffer(b.ctx, b.ctx.owner.userId, bMember.userId);
    const tries: [ReturnType<typeof methodOf>, string, object?][] = [
      ['PATCH', ws(a.ctx, `/members/${bMember.userId}`), { status: 'deactivated' }],
      ['DELETE', ws(a.ctx, `/members/${bMember.userId}`)],
      ['GET', ws(a.ctx, `/members/${bMember.userId}/sessions`)],
      ['POST', ws(a.ctx, `/members/${bMember.userId}/sign-out`)],
      ['GET', ws(a.ctx, `/members/${bMember.userId}/roles`)],
      ['POST', ws(a.ctx, `/members/${bMember.userId}/roles`), { role: 'viewer' }],
      ['PATCH', ws(a.ctx, `/roles/${bRole}`), { name: 'stolen' }],
      ['DELETE', ws(a.ctx, `/roles/${bRole}`)],
      ['GET', ws(a.ctx, `/roles/${bRole}/preview`)],
      ['GET', ws(a.ctx, `/access/explain?member=${bMember.userId}&permission=members.read`)],
    ];
    for (const [method, url, body] of tries) {
      const res = await call(h.app, a.browser, method, url, body);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(404);
    }
    // Not found is the answer where a 404 would reveal nothing new; these say the id is no good for the caller.
    expect((await call(h.app, a.browser, 'DELETE', ws(a.ctx, `/invitations/${bInvitation}`))).json()).toMatchObject({ code: 'INVITATION_INVALID' });
    expect((await call(h.app, a.browser, 'POST', ws(a.ctx, '/ownership/offer'), { userId: bMember.userId })).json()).toMatchObject({ code: 'OWNERSHIP_TARGET_INVALID' });
    // Workspace B's data is as it was.
    const still = await b.ctx.sql<{ n: string }>(
      `SELECT (SELECT count(*) FROM tenant.members WHERE workspace_id = $1 AND user_id = $2 AND status = 'active')
            + (SELECT count(*) FROM tenant.roles WHERE workspace_id = $1 AND id = $3 AND name <> 'stolen')
            + (SELECT count(*) FROM tenant.invitations WHERE workspace_id = $1 AND id = $4 AND revoked_at IS NULL)
            + (SELECT count(*) FROM tenant.ownership_offers WHERE workspace_id = $1 AND id = $5 AND withdrawn_at IS NULL) AS n`,
      [b.ctx.ws, bMember.userId, bRole, bInvitation, bOffer]);
    expect(still[0]?.n).toBe('4');
  });

  it("a workspace the caller does not belong to is 404, whatever the route", async () => {
    const a = await ownerScene();
    const b = await ownerScene();
    for (const path of ['/members', '/roles', '/role-changes', '/invitations']) {
      expect((await call(h.app, a.browser, 'GET', ws(b.ctx, path))).json()).toMatchObject({ code: 'NOT_A_MEMBER' });
    }
  });
});
