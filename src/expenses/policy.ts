import type { RecordPolicy } from '../access/catalog.ts';
import { AccessDenied } from '../access/control.ts';
import type { Sql } from '../db/types.ts';
import { errorsOf } from '../kernel/errors.ts';
import { expensesErrors } from './errors.ts';
import { effectiveLimit } from './limits.ts';
import { decideApproval, toCents, type ClaimFacts } from './rules.ts';

const fail = errorsOf(expensesErrors);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const CLAIMS_TABLE = 'tenant.expense_claims';

/**
 * The facts of a claim the rules look at, read under RLS: a claim of another workspace, or an id
 * that is not one, is CLAIM_NOT_FOUND (404), never a refusal that would confirm it exists.
 */
export async function claimFacts(tx: Sql, claimId: string): Promise<ClaimFacts> {
  if (!UUID.test(claimId)) throw fail('CLAIM_NOT_FOUND');
  const { rows } = await tx.query<{ submitter_id: string; department_id: string; amount: string; status: string }>(
    'SELECT submitter_id, department_id, amount::text AS amount, status FROM tenant.expense_claims WHERE id = $1',
    [claimId],
  );
  const row = rows[0];
  if (row === undefined) throw fail('CLAIM_NOT_FOUND');
  return { submitterId: row.submitter_id, departmentId: row.department_id, amountCents: toCents(row.amount), status: row.status };
}

/** The departments a member heads. */
export async function headedDepartments(tx: Sql, userId: string): Promise<Set<string>> {
  const { rows } = await tx.query<{ id: string }>('SELECT id FROM tenant.departments WHERE head_user_id = $1', [userId]);
  return new Set(rows.map((r) => r.id));
}

/**
 * The attribute rules of `expenses.approve` on a claim (ACC-4): loads the facts in the request's
 * transaction and lets the pure rules (rules.ts) decide. Enforcement (approve and reject, through
 * AccessControl.authorize) and explain (ACC-7) both call this, so they cannot disagree.
 */
export const approvalPolicy: RecordPolicy = async (tx, actor, claimId) => {
  const claim = await claimFacts(tx, claimId);
  const decision = decideApproval(
    { userId: actor.userId, permissions: actor.permissions, heads: await headedDepartments(tx, actor.userId), limitCents: await effectiveLimit(tx, actor) },
    claim,
  );
  if (!decision.allowed) throw new AccessDenied(decision.rule, decision.detail, { record: { table: CLAIMS_TABLE, id: claimId.toLowerCase() } });
};
