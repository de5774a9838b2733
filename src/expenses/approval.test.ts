import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlState } from '../../test/db.ts';
import { auditEvents, expensesWorld, type ClaimJson, type ExpensesWorld, type Person } from '../../test/expenses.ts';
import type { TestApp } from '../../test/http.ts';
import { identityApp } from '../../test/identity.ts';

let h: TestApp;
let w: ExpensesWorld;
/** Heads Sales (Manager, limit 5,000.00). */
let salesHead: Person;
/** Heads Engineering (Team Lead, limit 1,000.00). */
let engHead: Person;
/** Finance Manager: every department, limit 50,000.00; heads nothing. */
let finance: Person;
let seller: Person;
let engineer: Person;
let sales: string;
let eng: string;

beforeAll(async () => {
  h = await identityApp();
  w = await expensesWorld(h);
  salesHead = await w.person({ roles: ['manager'] });
  engHead = await w.person({ roles: ['team_lead'] });
  sales = await w.department('SALES', salesHead);
  eng = await w.department('ENG', engHead);
  await w.placeIn(salesHead, sales);
  await w.placeIn(engHead, eng);
  const fin = await w.department('FIN');
  finance = await w.person({ roles: ['finance_manager'], department: fin });
  seller = await w.person({ roles: ['employee'], department: sales });
  engineer = await w.person({ roles: ['employee'], department: eng });
});
afterAll(async () => h.close());

const approve = (who: Person, claim: ClaimJson | string, note?: string) =>
  w.as(who, 'POST', `/expenses/claims/${typeof claim === 'string' ? claim : claim.id}/approve`, note === undefined ? {} : { note });
const reject = (who: Person, claim: ClaimJson, note?: string) => w.as(who, 'POST', `/expenses/claims/${claim.id}/reject`, note === undefined ? {} : { note });
const status = async (claim: ClaimJson) => (await w.as(w.owner, 'GET', `/expenses/claims/${claim.id}`)).json<ClaimJson>().status;

/** A 403 naming `rule`, with the problem+json shape every refusal has. */
function expectRefused(res: Awaited<ReturnType<typeof approve>>, rule: string) {
  expect(res.statusCode, res.body).toBe(403);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ code: 'FORBIDDEN', rule });
}

describe('ACC-4 expense approval rules, through HTTP with real sessions', () => {
  it('no_self_approval: nobody decides on their own claim; the refusal is audited and changes nothing', async () => {
    const own = await w.submit(salesHead, '100.00');
    expectRefused(await approve(salesHead, own), 'no_self_approval');
    expectRefused(await reject(salesHead, own), 'no_self_approval');
    expect(await status(own)).toBe('submitted');
    // The refused transaction rolled back; the denial is recorded in one of its own (ACC-7).
    const denials = await auditEvents(h, w.ws, 'access.denied', own.id);
    expect(denials).toHaveLength(2);
    expect(denials[0]).toMatchObject({
      action: 'DENY', table_name: 'tenant.expense_claims', record_id: own.id, actor_user_id: salesHead.userId,
      new_values: { rule: 'no_self_approval' },
    });
    expect(await auditEvents(h, w.ws, 'expenses.claim_approved', own.id)).toEqual([]);
    const history = await w.as(w.owner, 'GET', `/expenses/claims/${own.id}/history`);
    expect(history.json<{ events: unknown[] }>().events).toHaveLength(1);
  });

  it('permission: a member without expenses.approve is refused before any rule runs', async () => {
    const claim = await w.submit(engineer, '10.00');
    const res = await approve(seller, claim);
    expectRefused(res, 'permission');
    expect(res.json()).toMatchObject({ permission: 'expenses.approve' });
    expect(await status(claim)).toBe('submitted');
  });

  it('a Head of Department approves a claim of their department (200), recorded in the history and the audit trail', async () => {
    const claim = await w.submit(seller, '300.00');
    const res = await approve(salesHead, claim, 'fine');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: claim.id, status: 'approved', decidedBy: salesHead.userId, decisionNote: 'fine' });
    const events = await auditEvents(h, w.ws, 'expenses.claim_approved', claim.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'APPROVE', table_name: 'tenant.expense_claims', actor_user_id: salesHead.userId, new_values: { status: 'approved', note: 'fine' } });
  });

  it('department_scope: a Head of Department is refused outside their department', async () => {
    const claim = await w.submit(engineer, '50.00');
    expectRefused(await approve(salesHead, claim), 'department_scope');
    expect(await status(claim)).toBe('submitted');
    const denial = await auditEvents(h, w.ws, 'access.denied', claim.id);
    expect(denial[0]?.new_values).toMatchObject({ rule: 'department_scope' });
  });

  it('amount_limit: a Head of Department is refused above their limit, allowed at it', async () => {
    const above = await w.submit(seller, '5000.01');
    expectRefused(await approve(salesHead, above), 'amount_limit');
    expect(await status(above)).toBe('submitted');
    const at = await w.submit(seller, '5000.00');
    expect((await approve(salesHead, at)).statusCode).toBe(200);
  });

  it('an organisation-wide Finance Manager approves in any department up to their limit', async () => {
    const engClaim = await w.submit(engineer, '40000.00');
    expect((await approve(finance, engClaim)).statusCode).toBe(200);
    const salesClaim = await w.submit(seller, '50000.00');
    expect((await approve(finance, salesClaim)).statusCode).toBe(200);
    const tooBig = await w.submit(engineer, '50000.01');
    expectRefused(await approve(finance, tooBig), 'amount_limit');
  });

  it('a per-member override changes the outcome, both ways', async () => {
    const claim = await w.submit(seller, '7000.00');
    expectRefused(await approve(salesHead, claim), 'amount_limit');
    expect((await w.as(w.owner, 'PATCH', `/expenses/limits/members/${salesHead.userId}`, { limit: '8000.00' })).statusCode).toBe(200);
    expect((await approve(salesHead, claim)).statusCode).toBe(200);

    // Lower than the role's default: the Team Lead's 1,000.00 becomes 10.00 for this member only.
    const small = await w.submit(engineer, '50.00');
    expect((await w.as(w.owner, 'PATCH', `/expenses/limits/members/${engHead.userId}`, { limit: '10.00' })).statusCode).toBe(200);
    expectRefused(await approve(engHead, small), 'amount_limit');
    expect((await w.as(w.owner, 'DELETE', `/expenses/limits/members/${engHead.userId}`)).statusCode).toBe(200);
    expect((await approve(engHead, small)).statusCode).toBe(200);
  });

  it('claim_pending: a decided claim is not decided again', async () => {
    const claim = await w.submit(seller, '20.00');
    expect((await reject(salesHead, claim, 'no receipt')).json()).toMatchObject({ status: 'rejected', decisionNote: 'no receipt' });
    expectRefused(await approve(salesHead, claim), 'claim_pending');
    expectRefused(await approve(finance, claim), 'claim_pending');
    expect(await status(claim)).toBe('rejected');
    expect(await auditEvents(h, w.ws, 'expenses.claim_rejected', claim.id)).toMatchObject([{ action: 'REJECT', new_values: { note: 'no receipt' } }]);
  });

  it('two approvers deciding the same claim at once: exactly one decision, one history row', async () => {
    const claim = await w.submit(seller, '25.00');
    const results = await Promise.all([approve(salesHead, claim), reject(finance, claim), approve(finance, claim), reject(salesHead, claim)]);
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 403, 403, 403]);
    for (const r of results.filter((x) => x.statusCode === 403)) expect(r.json()).toMatchObject({ rule: 'claim_pending' });
    const events = (await w.as(w.owner, 'GET', `/expenses/claims/${claim.id}/history`)).json<{ events: { action: string }[] }>().events;
    expect(events.map((e) => e.action).filter((a) => a !== 'submitted')).toHaveLength(1);
  });

  it('the database itself refuses a decision on one\'s own claim or a second decision (ACC-5: RLS layer)', async () => {
    // Even code that skipped the API's rules could not do these: the claim's guard trigger refuses.
    const own = await w.submit(salesHead, '30.00');
    const asHead = { workspaceId: w.ws, userId: salesHead.userId };
    expect(await sqlState(h.t.db.withWorkspace(asHead, (tx) => tx.query(`UPDATE tenant.expense_claims SET status = 'approved' WHERE id = $1`, [own.id])))).toBe('42501');
    expect(await sqlState(h.t.db.withWorkspace(asHead, (tx) => tx.query(`UPDATE tenant.expense_claims SET amount = 1 WHERE id = $1`, [own.id])))).toBe('42501');
    const other = await w.submit(seller, '30.00');
    expect((await approve(salesHead, other)).statusCode).toBe(200);
    expect(await sqlState(h.t.db.withWorkspace(asHead, (tx) => tx.query(`UPDATE tenant.expense_claims SET status = 'rejected' WHERE id = $1`, [other.id])))).toBe('42501');
    expect(await sqlState(h.t.db.withWorkspace(asHead, (tx) => tx.query(`DELETE FROM tenant.expense_claims WHERE id = $1`, [other.id])))).toBe('42501');
    expect(await sqlState(h.t.db.withWorkspace(asHead, (tx) => tx.query(`UPDATE tenant.expense_claim_events SET note = 'x' WHERE claim_id = $1`, [other.id])))).toBe('42501');
  });
});

describe('ACC-7 explain answers exactly what enforcement does', () => {
  /** The rule explain names, in enforcement's vocabulary (null: allowed). */
  async function explained(who: Person, claimId: string): Promise<string | null> {
    const res = await w.as(w.owner, 'GET', `/access/explain?member=${who.userId}&permission=expenses.approve&record=${claimId}`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ allowed: boolean; decidedBy: { kind: string; rule?: string }; rulesChecked: boolean }>();
    if (body.allowed) return null;
    return body.decidedBy.kind === 'missing_permission' ? 'permission' : (body.decidedBy.rule ?? 'unknown');
  }

  it.each([
    ['own claim', () => salesHead, () => salesHead, '40.00', 'no_self_approval'],
    ['another department', () => salesHead, () => engineer, '40.00', 'department_scope'],
    ['above the limit', () => salesHead, () => seller, '9000.00', 'amount_limit'],
    ['without the permission', () => seller, () => engineer, '40.00', 'permission'],
    ['org-wide above the limit', () => finance, () => seller, '60000.00', 'amount_limit'],
    ['head in their department', () => engHead, () => engineer, '40.00', null],
    ['org-wide within the limit', () => finance, () => engineer, '40.00', null],
  ] as const)('%s', async (_, approver, submitter, amount, rule) => {
    const claim = await w.submit(submitter(), amount);
    // Explain first (it changes nothing), then enforce: both must give the same answer.
    expect(await explained(approver(), claim.id)).toBe(rule);
    const res = await approve(approver(), claim);
    if (rule === null) expect(res.statusCode, res.body).toBe(200);
    else expectRefused(res, rule);
    // A decided claim: both now say claim_pending (or permission, for someone without it).
    const after = rule === 'permission' ? 'permission' : rule === null ? 'claim_pending' : rule;
    expect(await explained(approver(), claim.id)).toBe(after);
  });

  it('a per-member override moves explain and enforcement together', async () => {
    const claim = await w.submit(engineer, '1500.00');
    expect(await explained(engHead, claim.id)).toBe('amount_limit');
    expect((await w.as(w.owner, 'PATCH', `/expenses/limits/members/${engHead.userId}`, { limit: '2000.00' })).statusCode).toBe(200);
    expect(await explained(engHead, claim.id)).toBe(null);
    expect((await approve(engHead, claim)).statusCode).toBe(200);
    expect((await w.as(w.owner, 'DELETE', `/expenses/limits/members/${engHead.userId}`)).statusCode).toBe(200);
  });
});

describe('ISO-6 a claim id of another workspace is 404, never 403', () => {
  it('approve, reject, read, history and explain all answer CLAIM_NOT_FOUND', async () => {
    const other = await expensesWorld(h);
    const dept = await other.department('OTHER');
    const outsider = await other.person({ roles: ['employee'], department: dept });
    const foreign = await other.submit(outsider, '10.00');
    for (const id of [foreign.id, randomUUID()]) {
      for (const res of [
        await approve(finance, id),
        await w.as(finance, 'POST', `/expenses/claims/${id}/reject`, {}),
        await w.as(finance, 'GET', `/expenses/claims/${id}`),
        await w.as(finance, 'GET', `/expenses/claims/${id}/history`),
        await w.as(w.owner, 'GET', `/access/explain?member=${finance.userId}&permission=expenses.approve&record=${id}`),
      ]) {
        expect(res.statusCode, res.body).toBe(404);
        expect(res.json()).toMatchObject({ code: 'CLAIM_NOT_FOUND' });
      }
    }
    // Not a claim id at all: the path refuses it (400); explain's free-form record gives 404.
    expect((await approve(finance, 'not-a-uuid')).statusCode).toBe(400);
    expect((await w.as(w.owner, 'GET', `/access/explain?member=${finance.userId}&permission=expenses.approve&record=x'or'1`)).statusCode).toBe(404);
    // The other workspace's claim is untouched.
    expect((await other.as(other.owner, 'GET', `/expenses/claims/${foreign.id}`)).json()).toMatchObject({ status: 'submitted' });
  });
});
