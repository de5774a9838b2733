import type { Sql } from '../db/types.ts';
import { errorsOf } from '../kernel/errors.ts';
import { identityErrors } from '../identity/errors.ts';
import { AccessDenied, type AccessControl } from './control.ts';
import { accessErrors } from './errors.ts';

const fail = errorsOf(accessErrors);
const failIdentity = errorsOf(identityErrors);

export interface Explanation {
  member: string;
  permission: string;
  record: string | null;
  allowed: boolean;
  /**
   * What decided: `role` (the roles that give the permission), `missing_permission` (no role gives
   * it), or `rule` (an attribute rule on the record refused, or every rule passed).
   */
  decidedBy:
    | { kind: 'role'; roles: string[] }
    | { kind: 'missing_permission' }
    | { kind: 'rule'; rule: string; detail: string };
  /** The member's roles, for context. */
  roles: string[];
  /** Rules evaluated on the record, when a record was given and the permission has any. */
  rulesChecked: boolean;
}

/**
 * Why a member may or may not use a permission, on a record when one is named (ACC-7). Uses the
 * same permission sets and the same record policy as the enforcement path.
 */
export async function explain(
  tx: Sql,
  access: AccessControl,
  workspaceId: string,
  query: { member: string; permission: string; record?: string | undefined },
): Promise<Explanation> {
  if (!access.catalog.has(query.permission)) throw fail('UNKNOWN_PERMISSION', `no such permission: ${query.permission}`);
  const target = await access.memberActor(tx, workspaceId, query.member);
  if (target === null) throw failIdentity('MEMBER_NOT_FOUND');
  const base = { member: query.member, permission: query.permission, record: query.record ?? null, roles: target.roles.map((r) => r.name) };
  if (!target.can(query.permission)) return { ...base, allowed: false, decidedBy: { kind: 'missing_permission' }, rulesChecked: false };
  const byRoles = { kind: 'role' as const, roles: [...(target.grantedBy.get(query.permission) ?? [])] };
  const policy = access.catalog.policies.get(query.permission);
  if (query.record === undefined || policy === undefined) return { ...base, allowed: true, decidedBy: byRoles, rulesChecked: false };
  try {
    await policy(tx, target, query.record);
  } catch (error) {
    if (error instanceof AccessDenied) return { ...base, allowed: false, decidedBy: { kind: 'rule', rule: error.rule, detail: error.message }, rulesChecked: true };
    throw error;
  }
  return { ...base, allowed: true, decidedBy: byRoles, rulesChecked: true };
}
