import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertMaskPermissions, defineFieldMask } from '../access/masking.ts';
import { auditEvents, expensesWorld, type ClaimJson, type ExpensesWorld, type Person } from '../../test/expenses.ts';
import type { TestApp } from '../../test/http.ts';
import { identityApp } from '../../test/identity.ts';

const BANK_REF = 'DE89370400440532013000';

describe('ISO-7 field masks (unit)', () => {
  const mask = defineFieldMask({ secret: 'things.read_secret', other: 'things.read_other' });
  const row = { id: '1', secret: 's', other: 'o', plain: 'p' };
  const viewer = (...held: string[]) => ({ can: (p: string) => held.includes(p) });

  it('omits each field whose permission the viewer lacks, and only those', () => {
    expect(mask.apply(viewer(), row)).toEqual({ id: '1', plain: 'p' });
    expect(mask.apply(viewer('things.read_secret'), row)).toEqual({ id: '1', secret: 's', plain: 'p' });
    expect(mask.applyAll(viewer('things.read_secret', 'things.read_other'), [row, row])).toEqual([row, row]);
    expect('secret' in mask.apply(viewer(), row)).toBe(false);
    expect(row).toEqual({ id: '1', secret: 's', other: 'o', plain: 'p' });
  });

  it('refuses a permission that is not an id, and one the catalog does not know', () => {
    expect(() => defineFieldMask({ x: 'not a permission' })).toThrow(/not a permission id/);
    expect(() => { assertMaskPermissions(mask, { has: (p) => p === 'things.read_secret' }); }).toThrow(/unknown permission things.read_other/);
  });
});

let h: TestApp;
let w: ExpensesWorld;
let head: Person;
let finance: Person;
let seller: Person;
let claim: ClaimJson;

beforeAll(async () => {
  h = await identityApp();
  w = await expensesWorld(h);
  head = await w.person({ roles: ['manager'] });
  const dept = await w.department('SALES', head);
  finance = await w.person({ roles: ['finance_manager'], department: dept });
  seller = await w.person({ roles: ['employee'], department: dept });
  claim = await w.submit(seller, '120.00', { payeeBankRef: BANK_REF });
});
afterAll(async () => h.close());

const one = (who: Person) => w.as(who, 'GET', `/expenses/claims/${claim.id}`);
const list = (who: Person) => w.as(who, 'GET', '/expenses/claims');

describe('ISO-7 the payee bank reference is shown only to holders of expenses.read_bank_details', () => {
  it('a Finance Manager sees it, in the claim and in the list', async () => {
    expect((await one(finance)).json()).toMatchObject({ id: claim.id, payeeBankRef: BANK_REF });
    expect((await list(finance)).json<{ claims: ClaimJson[] }>().claims.find((c) => c.id === claim.id)).toMatchObject({ payeeBankRef: BANK_REF });
  });

  it('a Manager does not: the field is absent from the claim, the list and the decision response', async () => {
    for (const res of [await one(head), await list(head)]) {
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).not.toContain(BANK_REF);
      expect(res.body).not.toContain('payeeBankRef');
    }
    const other = await w.submit(seller, '5.00', { payeeBankRef: BANK_REF });
    const decided = await w.as(head, 'POST', `/expenses/claims/${other.id}/approve`, {});
    expect(decided.statusCode, decided.body).toBe(200);
    expect(decided.body).not.toContain(BANK_REF);
  });

  it('the submitter without the permission does not see it either (the mask is by permission only)', async () => {
    expect(claim).not.toHaveProperty('payeeBankRef');
    expect((await one(seller)).body).not.toContain(BANK_REF);
  });

  it('taking the role away narrows the very next response; giving it back widens it', async () => {
    const both = await w.person({ roles: ['manager', 'finance_manager'] });
    expect((await one(both)).json()).toMatchObject({ payeeBankRef: BANK_REF });
    const taken = await w.as(w.owner, 'DELETE', `/members/${both.userId}/roles/finance_manager`);
    expect(taken.statusCode, taken.body).toBe(200);
    // Same session, next request: still allowed to read (Manager gives read_all), without the field.
    const next = await one(both);
    expect(next.statusCode, next.body).toBe(200);
    expect(next.json()).not.toHaveProperty('payeeBankRef');
    expect((await list(both)).body).not.toContain(BANK_REF);
    expect((await w.as(w.owner, 'POST', `/members/${both.userId}/roles`, { role: 'finance_manager' })).statusCode).toBe(200);
    expect((await one(both)).json()).toMatchObject({ payeeBankRef: BANK_REF });
  });

  it('a custom role holding only the bank-details permission reveals it; deleting the role hides it again', async () => {
    const role = await w.as(w.owner, 'POST', '/roles', { name: 'Bank details', permissions: ['expenses.read_bank_details'] });
    expect(role.statusCode, role.body).toBe(201);
    const key = role.json<{ key: string }>().key;
    const reader = await w.person({ roles: ['manager', key] });
    expect((await one(reader)).json()).toMatchObject({ payeeBankRef: BANK_REF });
    expect((await w.as(w.owner, 'DELETE', `/roles/${key}`)).statusCode).toBe(204);
    expect((await one(reader)).json()).not.toHaveProperty('payeeBankRef');
  });

  it('the audit trail records that a bank reference was set, never its value', async () => {
    const created = await auditEvents(h, w.ws, 'data.created', claim.id);
    expect(created).toHaveLength(1);
    expect(created[0]?.new_values).toMatchObject({ payee_bank_ref: '[redacted]', amount: 120 });
    const { rows } = await h.t.admin.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM tenant.audit_events WHERE workspace_id = $1 AND (new_values::text LIKE $2 OR old_values::text LIKE $2)`,
      [w.ws, `%${BANK_REF}%`],
    );
    expect(rows[0]?.n).toBe('0');
  });
});
