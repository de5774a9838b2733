import type { Actor } from '../access/control.ts';
import type { Sql } from '../db/types.ts';
import { identityErrors } from '../identity/errors.ts';
import { errorsOf } from '../kernel/errors.ts';
import { expensesErrors } from './errors.ts';
import type { DepartmentInput, DepartmentView } from './types.ts';

const fail = errorsOf(expensesErrors);
const failIdentity = errorsOf(identityErrors);

const COLUMNS = `id, code, name, parent_id AS "parentId", head_user_id AS "headUserId", created_at AS "createdAt"`;

export async function listDepartments(tx: Sql): Promise<DepartmentView[]> {
  const { rows } = await tx.query<DepartmentView>(`SELECT ${COLUMNS} FROM tenant.departments ORDER BY code`);
  return rows;
}

/** A head must be an active member of this workspace (RLS: another workspace's members are not seen). */
async function assertHead(tx: Sql, userId: string | null | undefined): Promise<void> {
  if (userId === null || userId === undefined) return;
  const { rows } = await tx.query<{ status: string }>('SELECT status FROM tenant.members WHERE user_id = $1', [userId]);
  if (rows[0]?.status !== 'active') throw fail('DEPARTMENT_HEAD_INVALID');
}

/** A parent must exist in this workspace and must not be the department itself or one below it. */
async function assertParent(tx: Sql, parentId: string | null | undefined, self: string | null): Promise<void> {
  if (parentId === null || parentId === undefined) return;
  const { rows } = await tx.query<{ ids: string[] }>(
    `WITH RECURSIVE up AS (
       SELECT id, parent_id, 1 AS depth FROM tenant.departments WHERE id = $1
       UNION ALL
       SELECT d.id, d.parent_id, up.depth + 1 FROM tenant.departments d JOIN up ON d.id = up.parent_id WHERE up.depth < 100
     ) SELECT array_agg(id::text) AS ids FROM up`,
    [parentId],
  );
  const ancestors = rows[0]?.ids ?? null;
  if (ancestors === null) throw fail('UNKNOWN_DEPARTMENT', 'parentId names no department of this workspace');
  if (self !== null && ancestors.includes(self)) throw fail('DEPARTMENT_CYCLE');
}

/** Maps the constraint errors a concurrent change can still cause to their public codes. */
function constraint(error: unknown): never {
  const e = error as { code?: unknown; constraint?: unknown };
  if (e.code === '23505') throw fail('DEPARTMENT_CODE_TAKEN');
  if (e.code === '23503' && e.constraint === 'departments_head') throw fail('DEPARTMENT_HEAD_INVALID');
  if (e.code === '23503') throw fail('UNKNOWN_DEPARTMENT');
  throw error;
}

export async function createDepartment(tx: Sql, actor: Actor, input: DepartmentInput & { code: string; name: string }): Promise<DepartmentView> {
  await assertParent(tx, input.parentId, null);
  await assertHead(tx, input.headUserId);
  const { rows } = await tx
    .query<DepartmentView>(
      `INSERT INTO tenant.departments (workspace_id, code, name, parent_id, head_user_id) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [actor.workspaceId, input.code, input.name, input.parentId ?? null, input.headUserId ?? null],
    )
    .catch(constraint);
  const row = rows[0];
  if (row === undefined) throw new Error('department insert returned nothing');
  return row;
}

/** Changes a department; `null` clears the parent or the head, an absent field is left as it is. */
export async function updateDepartment(tx: Sql, id: string, input: DepartmentInput): Promise<DepartmentView> {
  const { rows: current } = await tx.query<{ id: string }>('SELECT id FROM tenant.departments WHERE id = $1 FOR UPDATE', [id]);
  if (current[0] === undefined) throw fail('DEPARTMENT_NOT_FOUND');
  await assertParent(tx, input.parentId, id);
  await assertHead(tx, input.headUserId);
  const { rows } = await tx
    .query<DepartmentView>(
      `UPDATE tenant.departments
          SET code = coalesce($2, code), name = coalesce($3, name),
              parent_id = CASE WHEN $4 THEN $5::uuid ELSE parent_id END,
              head_user_id = CASE WHEN $6 THEN $7::uuid ELSE head_user_id END
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, input.code ?? null, input.name ?? null, input.parentId !== undefined, input.parentId ?? null, input.headUserId !== undefined, input.headUserId ?? null],
    )
    .catch(constraint);
  const row = rows[0];
  if (row === undefined) throw fail('DEPARTMENT_NOT_FOUND');
  return row;
}

/** Puts a member in a department (or in none): their future claims go to that department. */
export async function setMemberDepartment(tx: Sql, userId: string, departmentId: string | null): Promise<{ userId: string; departmentId: string | null }> {
  if (departmentId !== null) {
    const { rowCount } = await tx.query('SELECT 1 FROM tenant.departments WHERE id = $1', [departmentId]);
    if (rowCount === 0) throw fail('UNKNOWN_DEPARTMENT');
  }
  const { rowCount } = await tx
    .query('UPDATE tenant.members SET department_id = $2 WHERE user_id = $1', [userId, departmentId])
    .catch(constraint);
  if (rowCount === 0) throw failIdentity('MEMBER_NOT_FOUND');
  return { userId, departmentId };
}
