import { randomBytes } from 'node:crypto';
import type { Ctx, Recipe } from '../src/access/matrix.test.ts';

const ws = (c: Ctx, path = '') => `/api/v1/workspaces/${c.ws}${path}`;
const P = '/api/v1/workspaces/:workspaceId';

async function department(c: Ctx): Promise<string> {
  const rows = await c.sql<{ id: string }>('INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, $2) RETURNING id', [
    c.ws, `D${randomBytes(5).toString('hex')}`,
  ]);
  return rows[0]?.id ?? '';
}

async function placeIn(c: Ctx, userId: string, departmentId: string): Promise<void> {
  await c.sql('UPDATE tenant.members SET department_id = $3 WHERE workspace_id = $1 AND user_id = $2', [c.ws, userId, departmentId]);
}

/** A pending claim of 10.00 by a fresh member (never the caller), in a department nobody heads. */
async function claim(c: Ctx): Promise<string> {
  const dept = await department(c);
  const submitter = await c.fresh();
  await placeIn(c, submitter.userId, dept);
  const rows = await c.sql<{ id: string }>(
    `INSERT INTO tenant.expense_claims (workspace_id, submitter_id, department_id, amount, currency, description)
     VALUES ($1, $2, $3, '10.00', 'EUR', 'matrix') RETURNING id`,
    [c.ws, submitter.userId, dept],
  );
  return rows[0]?.id ?? '';
}

/** Recipes for the expenses routes of the access matrix (rows in test/access-matrix.ts). */
export const EXPENSE_RECIPES: Record<string, Recipe> = {
  [`GET ${P}/departments`]: async (c) => ({ url: ws(c, '/departments') }),
  [`POST ${P}/departments`]: async (c) => ({ url: ws(c, '/departments'), body: { code: `D${randomBytes(5).toString('hex')}`, name: 'Matrix' } }),
  [`PATCH ${P}/departments/:departmentId`]: async (c) => ({ url: ws(c, `/departments/${await department(c)}`), body: { name: 'Renamed' } }),
  [`PATCH ${P}/members/:userId/department`]: async (c) => ({ url: ws(c, `/members/${(await c.fresh()).userId}/department`), body: { departmentId: await department(c) } }),
  [`GET ${P}/expenses/limits`]: async (c) => ({ url: ws(c, '/expenses/limits') }),
  // Zero: within everyone's own limit (an HR Manager's is zero), so only the permission decides.
  [`PATCH ${P}/expenses/limits/roles/:role`]: async (c) => ({ url: ws(c, '/expenses/limits/roles/team_lead'), body: { limit: '0.00' } }),
  [`DELETE ${P}/expenses/limits/roles/:role`]: async (c) => {
    await c.sql(`INSERT INTO tenant.expense_limits (workspace_id, role_key, limit_cents) VALUES ($1, 'viewer', 0) ON CONFLICT DO NOTHING`, [c.ws]);
    return { url: ws(c, '/expenses/limits/roles/viewer') };
  },
  [`PATCH ${P}/expenses/limits/members/:userId`]: async (c) => ({ url: ws(c, `/expenses/limits/members/${(await c.fresh()).userId}`), body: { limit: '0.00' } }),
  [`DELETE ${P}/expenses/limits/members/:userId`]: async (c) => {
    const target = await c.fresh();
    await c.sql('INSERT INTO tenant.expense_limits (workspace_id, user_id, limit_cents) VALUES ($1, $2, 0)', [c.ws, target.userId]);
    return { url: ws(c, `/expenses/limits/members/${target.userId}`) };
  },
  [`POST ${P}/expenses/claims`]: async (c) => {
    if (c.actor !== null) await placeIn(c, c.actor.userId, await department(c));
    return { url: ws(c, '/expenses/claims'), body: { amount: '10.00', currency: 'EUR', description: 'matrix' } };
  },
  [`GET ${P}/expenses/claims`]: async (c) => ({ url: ws(c, '/expenses/claims') }),
  // Another member's claim: 200 with expenses.read_all, 404 (not 403) with only expenses.read.
  [`GET ${P}/expenses/claims/:claimId`]: async (c) => ({ url: ws(c, `/expenses/claims/${await claim(c)}`) }),
  [`GET ${P}/expenses/claims/:claimId/history`]: async (c) => ({ url: ws(c, `/expenses/claims/${await claim(c)}/history`) }),
  [`POST ${P}/expenses/claims/:claimId/approve`]: async (c) => ({ url: ws(c, `/expenses/claims/${await claim(c)}/approve`), body: {} }),
  [`POST ${P}/expenses/claims/:claimId/reject`]: async (c) => ({ url: ws(c, `/expenses/claims/${await claim(c)}/reject`), body: {} }),
};
