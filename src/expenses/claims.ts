import type { AccessControl, Actor } from '../access/control.ts';
import { recordEvent } from '../audit/events.ts';
import type { Sql } from '../db/types.ts';
import { errorsOf } from '../kernel/errors.ts';
import { expensesErrors } from './errors.ts';
import { CLAIMS_TABLE } from './policy.ts';
import type { ClaimEventView, ClaimInput, ClaimView } from './types.ts';

const fail = errorsOf(expensesErrors);

const COLUMNS = `id, submitter_id AS "submitterId", department_id AS "departmentId", amount::text AS amount,
  currency::text AS currency, description, payee_bank_ref AS "payeeBankRef", status, decided_by AS "decidedBy",
  decided_at AS "decidedAt", decision_note AS "decisionNote", created_at AS "createdAt", updated_at AS "updatedAt"`;

/**
 * Which claims the actor may see: all of them with expenses.read_all, else their own. Another
 * member's claim outside that scope is CLAIM_NOT_FOUND, as if it did not exist.
 */
function scope(actor: Actor, next: number): { sql: string; params: unknown[] } {
  return actor.can('expenses.read_all') ? { sql: 'TRUE', params: [] } : { sql: `submitter_id = $${next}`, params: [actor.userId] };
}

/** Submits a claim in the submitter's department; its history starts with this step (trigger). */
export async function submitClaim(tx: Sql, actor: Actor, input: ClaimInput): Promise<ClaimView> {
  const { rows: member } = await tx.query<{ department_id: string | null }>('SELECT department_id FROM tenant.members WHERE user_id = $1', [actor.userId]);
  const departmentId = member[0]?.department_id ?? null;
  if (departmentId === null) throw fail('NO_DEPARTMENT');
  const { rows } = await tx.query<ClaimView>(
    `INSERT INTO tenant.expense_claims (workspace_id, submitter_id, department_id, amount, currency, description, payee_bank_ref)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
    [actor.workspaceId, actor.userId, departmentId, input.amount, input.currency, input.description, input.payeeBankRef ?? null],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('claim insert returned nothing');
  return row;
}

export async function getClaim(tx: Sql, actor: Actor, claimId: string): Promise<ClaimView> {
  const s = scope(actor, 2);
  const { rows } = await tx.query<ClaimView>(`SELECT ${COLUMNS} FROM tenant.expense_claims WHERE id = $1 AND ${s.sql}`, [claimId, ...s.params]);
  const row = rows[0];
  if (row === undefined) throw fail('CLAIM_NOT_FOUND');
  return row;
}

/** Every step of a claim, oldest first: submission and decision, with actor, time, status change and note. */
export async function claimHistory(tx: Sql, actor: Actor, claimId: string): Promise<ClaimEventView[]> {
  await getClaim(tx, actor, claimId);
  const { rows } = await tx.query<ClaimEventView>(
    `SELECT id, occurred_at AS "occurredAt", actor_user_id AS "actorUserId", action, from_status AS "fromStatus",
            to_status AS "toStatus", note
       FROM tenant.expense_claim_events WHERE claim_id = $1 ORDER BY occurred_at, id`,
    [claimId],
  );
  return rows;
}

/** A position in the newest-first list: the creation time in microseconds (exact) and the id. */
interface Cursor {
  us: string;
  id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.us}|${c.id}`).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  const m = /^(-?\d{1,19})\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (m === null) throw fail('CLAIM_CURSOR_INVALID');
  return { us: m[1] ?? '', id: m[2] ?? '' };
}

/** The claims the actor may see, newest first, a page at a time (keyset pagination: stable under inserts). */
export async function listClaims(
  tx: Sql,
  actor: Actor,
  query: { status?: string | undefined; limit: number; cursor?: string | undefined },
): Promise<{ claims: ClaimView[]; nextCursor: string | null }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const s = scope(actor, params.length + 1);
  where.push(s.sql);
  params.push(...s.params);
  if (query.status !== undefined) {
    params.push(query.status);
    where.push(`status = $${params.length}`);
  }
  if (query.cursor !== undefined) {
    const c = decodeCursor(query.cursor);
    params.push(c.us, c.id);
    where.push(`(created_at, id) < (timestamptz 'epoch' + $${params.length - 1}::bigint * interval '1 microsecond', $${params.length}::uuid)`);
  }
  params.push(query.limit + 1);
  const { rows } = await tx.query<ClaimView>(
    `SELECT ${COLUMNS} FROM tenant.expense_claims WHERE ${where.join(' AND ')}
      ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  const claims = rows.slice(0, query.limit);
  const last = claims.at(-1);
  if (rows.length <= query.limit || last === undefined) return { claims, nextCursor: null };
  // The creation time to the microsecond (a Date holds milliseconds: rows would be skipped).
  const { rows: at } = await tx.query<{ us: string }>(
    `SELECT (extract(epoch FROM created_at) * 1000000)::bigint::text AS us FROM tenant.expense_claims WHERE id = $1`,
    [last.id],
  );
  return { claims, nextCursor: encodeCursor({ us: at[0]?.us ?? '0', id: last.id }) };
}

/**
 * Approves or rejects a claim. The claim is locked first, so concurrent decisions queue and the
 * rules see it as it is; then `expenses.approve` and its record policy (ACC-4) decide, the same
 * code explain runs. The status change writes the history row (trigger); the decision is also an
 * explicit audit event, in the same transaction.
 */
export async function decideClaim(
  tx: Sql,
  access: AccessControl,
  actor: Actor,
  claimId: string,
  decision: { outcome: 'approved' | 'rejected'; note?: string | undefined },
): Promise<ClaimView> {
  const { rowCount } = await tx.query('SELECT 1 FROM tenant.expense_claims WHERE id = $1 FOR UPDATE', [claimId]);
  if (rowCount === 0) throw fail('CLAIM_NOT_FOUND');
  await access.authorize(tx, actor, 'expenses.approve', claimId);
  const { rows } = await tx.query<ClaimView>(
    `UPDATE tenant.expense_claims SET status = $2, decision_note = $3 WHERE id = $1 AND status = 'submitted' RETURNING ${COLUMNS}`,
    [claimId, decision.outcome, decision.note ?? null],
  );
  const claim = rows[0];
  // The row is locked and the rules required it pending: it cannot have moved.
  if (claim === undefined) throw new Error(`claim ${claimId} changed under its lock`);
  await recordEvent(tx, {
    eventType: decision.outcome === 'approved' ? 'expenses.claim_approved' : 'expenses.claim_rejected',
    action: decision.outcome === 'approved' ? 'APPROVE' : 'REJECT',
    tableName: CLAIMS_TABLE,
    recordId: claimId,
    oldValues: { status: 'submitted' },
    newValues: {
      status: claim.status, note: claim.decisionNote, amount: claim.amount, currency: claim.currency,
      departmentId: claim.departmentId, submitterId: claim.submitterId,
    },
  });
  return claim;
}
