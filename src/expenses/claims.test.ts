import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, expensesWorld, type ClaimJson, type ExpensesWorld, type Person } from '../../test/expenses.ts';
import type { TestApp } from '../../test/http.ts';
import { identityApp } from '../../test/identity.ts';

let h: TestApp;
let w: ExpensesWorld;
let head: Person;
let seller: Person;
let colleague: Person;
let sales: string;

beforeAll(async () => {
  h = await identityApp();
  w = await expensesWorld(h);
  head = await w.person({ roles: ['manager'] });
  sales = await w.department('SALES', head);
  seller = await w.person({ roles: ['employee'], department: sales });
  colleague = await w.person({ roles: ['employee'], department: sales });
});
afterAll(async () => h.close());

interface Page {
  claims: ClaimJson[];
  nextCursor: string | null;
}

describe('MOD-2 submitting a claim', () => {
  it('files it in the submitter\'s department, pending, with the submission as its first history step', async () => {
    const claim = await w.submit(seller, '42.10', { currency: 'GBP' });
    expect(claim).toMatchObject({ submitterId: seller.userId, departmentId: sales, amount: '42.10', currency: 'GBP', status: 'submitted', decidedBy: null });
    const history = await w.as(seller, 'GET', `/expenses/claims/${claim.id}/history`);
    expect(history.json()).toMatchObject({ events: [{ action: 'submitted', fromStatus: null, toStatus: 'submitted', actorUserId: seller.userId }] });
  });

  it('needs a department (422 NO_DEPARTMENT)', async () => {
    const loose = await w.person({ roles: ['employee'] });
    const res = await w.as(loose, 'POST', '/expenses/claims', { amount: '1.00', currency: 'EUR', description: 'x' });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({ code: 'NO_DEPARTMENT' });
  });

  it.each([
    ['workspaceId', { workspaceId: randomUUID() }],
    ['userId', { userId: randomUUID() }],
    ['submitterId', { submitterId: randomUUID() }],
    ['departmentId', { departmentId: randomUUID() }],
    ['status', { status: 'approved' }],
    ['decidedBy', { decidedBy: randomUUID() }],
  ])('refuses a body carrying %s (400), and files nothing', async (_, extra) => {
    const before = (await w.as(seller, 'GET', '/expenses/claims?limit=100')).json<Page>().claims.length;
    const res = await w.as(seller, 'POST', '/expenses/claims', { amount: '1.00', currency: 'EUR', description: 'x', ...extra });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await w.as(seller, 'GET', '/expenses/claims?limit=100')).json<Page>().claims.length).toBe(before);
  });

  it('refuses __proto__ in the body', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: w.url('/expenses/claims'),
      payload: '{"amount":"1.00","currency":"EUR","description":"x","__proto__":{"status":"approved"}}',
      headers: { 'content-type': 'application/json', 'x-csrf-token': seller.browser.csrf },
      cookies: { palisade_session: seller.browser.cookie },
      remoteAddress: seller.browser.ip,
    });
    expect(res.statusCode, res.body).toBe(400);
  });

  it.each([
    { amount: '0.00' }, { amount: '0' }, { amount: '-5.00' }, { amount: '1.234' }, { amount: 12 }, { amount: '1e3' },
    { currency: 'eur' }, { currency: 'EURO' }, { description: '' }, { payeeBankRef: 'x'.repeat(65) },
  ])('refuses %j (400)', async (bad) => {
    const res = await w.as(seller, 'POST', '/expenses/claims', { amount: '1.00', currency: 'EUR', description: 'x', ...bad });
    expect(res.statusCode, res.body).toBe(400);
  });
});

describe('MOD-2 reading claims: own claims, or all with expenses.read_all', () => {
  it('an employee sees only their own claims; another\'s is 404 (claim and history)', async () => {
    const mine = await w.submit(seller, '3.00');
    const theirs = await w.submit(colleague, '4.00');
    const ids = (await w.as(seller, 'GET', '/expenses/claims?limit=100')).json<Page>().claims.map((c) => c.id);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(theirs.id);
    for (const path of [`/expenses/claims/${theirs.id}`, `/expenses/claims/${theirs.id}/history`]) {
      const res = await w.as(seller, 'GET', path);
      expect(res.statusCode, res.body).toBe(404);
      expect(res.json()).toMatchObject({ code: 'CLAIM_NOT_FOUND' });
    }
  });

  it('a Manager or a Viewer (read_all) sees every claim; a Viewer cannot decide', async () => {
    const viewer = await w.person({ roles: ['viewer'] });
    const a = await w.submit(seller, '5.00');
    const b = await w.submit(colleague, '6.00');
    for (const who of [head, viewer]) {
      const ids = (await w.as(who, 'GET', '/expenses/claims?limit=100')).json<Page>().claims.map((c) => c.id);
      expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
      expect((await w.as(who, 'GET', `/expenses/claims/${b.id}`)).statusCode).toBe(200);
    }
    expect((await w.as(viewer, 'POST', `/expenses/claims/${b.id}/approve`, {})).json()).toMatchObject({ rule: 'permission', permission: 'expenses.approve' });
  });

  it('pages newest first with a cursor: every claim once, none skipped', async () => {
    const person = await w.person({ roles: ['employee'], department: sales });
    const submitted: string[] = [];
    for (let i = 1; i <= 5; i++) submitted.push((await w.submit(person, `${i}.00`)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await w.as(person, 'GET', `/expenses/claims?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json<Page>();
      seen.push(...page.claims.map((c) => c.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...submitted].reverse());
    const bad = await w.as(person, 'GET', '/expenses/claims?cursor=bm90LWEtY3Vyc29y');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'CLAIM_CURSOR_INVALID' });
  });

  it('filters by status', async () => {
    const claim = await w.submit(seller, '7.00');
    expect((await w.as(head, 'POST', `/expenses/claims/${claim.id}/reject`, { note: 'duplicate' })).statusCode).toBe(200);
    const rejected = (await w.as(head, 'GET', '/expenses/claims?status=rejected&limit=100')).json<Page>().claims;
    expect(rejected.map((c) => c.id)).toContain(claim.id);
    expect(rejected.every((c) => c.status === 'rejected')).toBe(true);
  });

  it('the history lists every step: submitted, then the decision with its actor, statuses and note', async () => {
    const claim = await w.submit(seller, '8.00');
    expect((await w.as(head, 'POST', `/expenses/claims/${claim.id}/approve`, { note: 'ok' })).statusCode).toBe(200);
    const events = (await w.as(seller, 'GET', `/expenses/claims/${claim.id}/history`)).json<{ events: unknown[] }>().events;
    expect(events).toMatchObject([
      { action: 'submitted', actorUserId: seller.userId, fromStatus: null, toStatus: 'submitted', note: null },
      { action: 'approved', actorUserId: head.userId, fromStatus: 'submitted', toStatus: 'approved', note: 'ok' },
    ]);
  });

  it('a removed member\'s claims stay on record', async () => {
    const leaver = await w.person({ roles: ['employee'], department: sales });
    const claim = await w.submit(leaver, '9.00');
    expect((await w.as(w.owner, 'DELETE', `/members/${leaver.userId}`)).statusCode).toBe(204);
    expect((await w.as(head, 'GET', `/expenses/claims/${claim.id}`)).json()).toMatchObject({ submitterId: leaver.userId });
  });
});

describe('MOD-2 departments and their heads', () => {
  it('anyone with expenses.read lists them; only expenses.manage creates or changes them', async () => {
    const res = await w.as(seller, 'GET', '/departments');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ departments: [{ id: sales, code: 'SALES', headUserId: head.userId }] });
    const refused = await w.as(seller, 'POST', '/departments', { code: 'X', name: 'X' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ rule: 'permission', permission: 'expenses.manage' });
    expect((await w.as(head, 'PATCH', `/departments/${sales}`, { headUserId: head.userId })).statusCode).toBe(403);
    expect((await w.as(seller, 'PATCH', `/members/${seller.userId}/department`, { departmentId: null })).statusCode).toBe(403);
  });

  it('checks codes, heads and parents', async () => {
    const dup = await w.as(w.owner, 'POST', '/departments', { code: 'SALES', name: 'Again' });
    expect(dup.json()).toMatchObject({ code: 'DEPARTMENT_CODE_TAKEN' });
    const stranger = await w.as(w.owner, 'POST', '/departments', { code: 'NOHEAD', name: 'x', headUserId: randomUUID() });
    expect(stranger.json()).toMatchObject({ code: 'DEPARTMENT_HEAD_INVALID' });
    const orphan = await w.as(w.owner, 'POST', '/departments', { code: 'ORPHAN', name: 'x', parentId: randomUUID() });
    expect(orphan.json()).toMatchObject({ code: 'UNKNOWN_DEPARTMENT' });
    const parent = await w.department('PARENT');
    const child = (await w.as(w.owner, 'POST', '/departments', { code: 'CHILD', name: 'Child', parentId: parent })).json<{ id: string }>().id;
    const cycle = await w.as(w.owner, 'PATCH', `/departments/${parent}`, { parentId: child });
    expect(cycle.statusCode).toBe(422);
    expect(cycle.json()).toMatchObject({ code: 'DEPARTMENT_CYCLE' });
    expect((await w.as(w.owner, 'PATCH', `/departments/${parent}`, { parentId: parent })).json()).toMatchObject({ code: 'DEPARTMENT_CYCLE' });
    expect((await w.as(w.owner, 'PATCH', `/departments/${randomUUID()}`, { name: 'x' })).statusCode).toBe(404);
    expect((await w.as(w.owner, 'PATCH', `/members/${seller.userId}/department`, { departmentId: randomUUID() })).json()).toMatchObject({ code: 'UNKNOWN_DEPARTMENT' });
    expect((await w.as(w.owner, 'PATCH', `/members/${randomUUID()}/department`, { departmentId: sales })).json()).toMatchObject({ code: 'MEMBER_NOT_FOUND' });
    expect((await w.as(w.owner, 'POST', '/departments', { code: 'Y', name: 'Y', workspaceId: randomUUID() })).statusCode).toBe(400);
  });

  it('a member of another workspace cannot be made head (composite key), and a removed head leaves the department headless', async () => {
    const other = await expensesWorld(h);
    const foreigner = await other.person();
    expect((await w.as(w.owner, 'POST', '/departments', { code: 'FOREIGN', name: 'x', headUserId: foreigner.userId })).json())
      .toMatchObject({ code: 'DEPARTMENT_HEAD_INVALID' });
    // Removing the member also drops their limit override, in the same transaction, audited.
    const boss = await w.person({ roles: ['manager'] });
    const dept = await w.department('TEMP', boss);
    await w.placeIn(boss, dept);
    expect((await w.as(w.owner, 'PATCH', `/expenses/limits/members/${boss.userId}`, { limit: '1.00' })).statusCode).toBe(200);
    expect((await w.as(w.owner, 'DELETE', `/members/${boss.userId}`)).statusCode).toBe(204);
    const after = (await w.as(w.owner, 'GET', '/departments')).json<{ departments: { id: string; code: string; headUserId: string | null }[] }>();
    expect(after.departments.find((d) => d.id === dept)).toMatchObject({ code: 'TEMP', headUserId: null });
    const overrides = (await w.as(w.owner, 'GET', '/expenses/limits')).json<{ members: { userId: string }[] }>().members;
    expect(overrides.map((m) => m.userId)).not.toContain(boss.userId);
    const headCleared = await auditEvents(h, w.ws, 'data.updated', dept);
    expect(headCleared.at(-1)).toMatchObject({ table_name: 'tenant.departments', actor_user_id: w.owner.userId, new_values: { head_user_id: null } });
  });

  it('changing the head moves the approval scope on the next request', async () => {
    const deputy = await w.person({ roles: ['manager'] });
    const claim = await w.submit(seller, '11.00');
    expect((await w.as(deputy, 'POST', `/expenses/claims/${claim.id}/approve`, {})).json()).toMatchObject({ rule: 'department_scope' });
    expect((await w.as(w.owner, 'PATCH', `/departments/${sales}`, { headUserId: deputy.userId })).statusCode).toBe(200);
    expect((await w.as(deputy, 'POST', `/expenses/claims/${claim.id}/approve`, {})).statusCode).toBe(200);
    expect((await w.as(w.owner, 'PATCH', `/departments/${sales}`, { headUserId: head.userId })).statusCode).toBe(200);
  });
});

describe('ACC-4 ACC-6 approval limits: per role and per member, never above your own', () => {
  const limits = (who: Person) => w.as(who, 'GET', '/expenses/limits');

  it('lists the defaults and the caller\'s own limit; only expenses.manage sees them', async () => {
    const res = await limits(w.owner);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ yours: string | null; roles: { role: string; limit: string | null }[] }>();
    expect(body.yours).toBeNull();
    expect(body.roles).toEqual(expect.arrayContaining([
      expect.objectContaining({ role: 'owner', limit: null }),
      expect.objectContaining({ role: 'team_lead', limit: '1000.00' }),
      expect.objectContaining({ role: 'project_manager', limit: '2000.00' }),
      expect.objectContaining({ role: 'manager', limit: '5000.00' }),
      expect.objectContaining({ role: 'admin', limit: '10000.00' }),
      expect.objectContaining({ role: 'finance_manager', limit: '50000.00' }),
    ]));
    expect((await limits(head)).json()).toMatchObject({ rule: 'permission', permission: 'expenses.manage' });
  });

  it('no_escalation: an Admin (10,000.00) cannot set or release a limit above their own; an owner can', async () => {
    const admin = await w.person({ systemRole: 'admin' });
    expect((await limits(admin)).json()).toMatchObject({ yours: '10000.00' });
    const tooHigh = await w.as(admin, 'PATCH', '/expenses/limits/roles/manager', { limit: '10000.01' });
    expect(tooHigh.statusCode).toBe(403);
    expect(tooHigh.json()).toMatchObject({ rule: 'no_escalation' });
    expect((await w.as(admin, 'PATCH', `/expenses/limits/members/${head.userId}`, { limit: '20000.00' })).json()).toMatchObject({ rule: 'no_escalation' });
    expect((await w.as(admin, 'PATCH', `/expenses/limits/members/${admin.userId}`, { limit: '10000.01' })).json()).toMatchObject({ rule: 'no_escalation' });
    expect((await w.as(admin, 'PATCH', '/expenses/limits/roles/manager', { limit: '6000.00' })).statusCode).toBe(200);
    expect((await w.as(admin, 'DELETE', '/expenses/limits/roles/manager')).statusCode).toBe(200);

    // Releasing an override counts too: the Finance Manager's default 50,000.00 would come back.
    const fm = await w.person({ roles: ['finance_manager'] });
    expect((await w.as(w.owner, 'PATCH', `/expenses/limits/members/${fm.userId}`, { limit: '100.00' })).statusCode).toBe(200);
    expect((await w.as(admin, 'DELETE', `/expenses/limits/members/${fm.userId}`)).json()).toMatchObject({ rule: 'no_escalation' });
    const still = (await limits(w.owner)).json<{ members: { userId: string; limit: string }[] }>().members;
    expect(still).toContainEqual({ userId: fm.userId, limit: '100.00' });
    expect((await w.as(w.owner, 'DELETE', `/expenses/limits/members/${fm.userId}`)).statusCode).toBe(200);
    expect((await w.as(w.owner, 'PATCH', `/expenses/limits/members/${fm.userId}`, { limit: '999999999999.99' })).statusCode).toBe(200);
  });

  it('a role override applies to every holder on the next request', async () => {
    const lead = await w.person({ roles: ['team_lead'] });
    const dept = await w.department('TEAM', lead);
    const member = await w.person({ roles: ['employee'], department: dept });
    const claim = await w.submit(member, '10.00');
    expect((await w.as(w.owner, 'PATCH', '/expenses/limits/roles/team_lead', { limit: '5.00' })).statusCode).toBe(200);
    expect((await w.as(lead, 'POST', `/expenses/claims/${claim.id}/approve`, {})).json()).toMatchObject({ rule: 'amount_limit' });
    expect((await w.as(w.owner, 'DELETE', '/expenses/limits/roles/team_lead')).statusCode).toBe(200);
    expect((await w.as(lead, 'POST', `/expenses/claims/${claim.id}/approve`, {})).statusCode).toBe(200);
  });

  it('a custom approver role approves nothing until its limit is set by id', async () => {
    const role = await w.as(w.owner, 'POST', '/roles', {
      name: 'Auditor approver', permissions: ['expenses.read', 'expenses.read_all', 'expenses.approve', 'expenses.approve_any_department'],
    });
    const key = role.json<{ key: string }>().key;
    const approver = await w.person({ roles: [key] });
    const claim = await w.submit(seller, '50.00');
    expect((await w.as(approver, 'POST', `/expenses/claims/${claim.id}/approve`, {})).json()).toMatchObject({ rule: 'amount_limit' });
    expect((await w.as(w.owner, 'PATCH', `/expenses/limits/roles/${key}`, { limit: '100.00' })).statusCode).toBe(200);
    expect((await w.as(approver, 'POST', `/expenses/claims/${claim.id}/approve`, {})).statusCode).toBe(200);
    // Deleting the role takes its limit with it.
    expect((await w.as(w.owner, 'DELETE', `/roles/${key}`)).statusCode).toBe(204);
    const roles = (await w.as(w.owner, 'GET', '/expenses/limits')).json<{ roles: { role: string }[] }>().roles;
    expect(roles.map((r) => r.role)).not.toContain(key);
  });

  it('refuses the owner role, unknown roles and members, and removing what is not set', async () => {
    expect((await w.as(w.owner, 'PATCH', '/expenses/limits/roles/owner', { limit: '1.00' })).json()).toMatchObject({ code: 'LIMIT_NOT_SETTABLE' });
    expect((await w.as(w.owner, 'PATCH', '/expenses/limits/roles/no_such_role', { limit: '1.00' })).json()).toMatchObject({ code: 'ROLE_NOT_FOUND' });
    expect((await w.as(w.owner, 'PATCH', `/expenses/limits/roles/${randomUUID()}`, { limit: '1.00' })).json()).toMatchObject({ code: 'ROLE_NOT_FOUND' });
    expect((await w.as(w.owner, 'PATCH', `/expenses/limits/members/${randomUUID()}`, { limit: '1.00' })).json()).toMatchObject({ code: 'MEMBER_NOT_FOUND' });
    expect((await w.as(w.owner, 'DELETE', '/expenses/limits/roles/viewer')).json()).toMatchObject({ code: 'LIMIT_NOT_SET' });
    expect((await w.as(w.owner, 'PATCH', '/expenses/limits/roles/manager', { limit: '-1' })).statusCode).toBe(400);
    expect((await w.as(w.owner, 'PATCH', '/expenses/limits/roles/manager', { limit: '1.00', userId: head.userId })).statusCode).toBe(400);
  });
});
