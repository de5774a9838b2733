/**
 * The attribute rules of expense approval (ACC-4), as pure functions of the facts: the policy
 * loads the facts in the request's transaction, these decide. The authz benchmark runs the same
 * functions, so what is measured is what guards the route.
 */

/** The rules, in the order they are applied; a refusal names the first that fails. */
export const APPROVAL_RULES = ['claim_pending', 'no_self_approval', 'department_scope', 'amount_limit'] as const;
export type ApprovalRule = (typeof APPROVAL_RULES)[number];

/** Lets a holder approve in every department, not only the ones they head. */
export const ORG_WIDE_SCOPE = 'expenses.approve_any_department';

export interface Approver {
  userId: string;
  permissions: ReadonlySet<string>;
  /** Departments this member heads. */
  heads: ReadonlySet<string>;
  /** The most they may approve, in minor units (cents); null: no limit (owners). */
  limitCents: bigint | null;
}

export interface ClaimFacts {
  submitterId: string;
  departmentId: string;
  amountCents: bigint;
  status: string;
}

export type Decision = { allowed: true } | { allowed: false; rule: ApprovalRule; detail: string };

const ALLOWED: Decision = { allowed: true };

/** Decides whether `approver` may approve or reject `claim` (the permission itself is checked before). */
export function decideApproval(approver: Approver, claim: ClaimFacts): Decision {
  if (claim.status !== 'submitted') return { allowed: false, rule: 'claim_pending', detail: `the claim is ${claim.status}, not awaiting a decision` };
  if (claim.submitterId === approver.userId) return { allowed: false, rule: 'no_self_approval', detail: 'nobody decides on their own claim' };
  if (!approver.permissions.has(ORG_WIDE_SCOPE) && !approver.heads.has(claim.departmentId)) {
    return { allowed: false, rule: 'department_scope', detail: 'you approve only in departments you head' };
  }
  if (approver.limitCents !== null && claim.amountCents > approver.limitCents) {
    return { allowed: false, rule: 'amount_limit', detail: `the claim exceeds your approval limit of ${formatCents(approver.limitCents)}; it needs an approver with a higher limit` };
  }
  return ALLOWED;
}

/**
 * A member's approval limit: their own override when set, else the highest limit among their
 * roles; owners have none. No limit anywhere means zero: holding `expenses.approve` alone
 * approves nothing until a limit is set.
 */
export function approvalLimit(input: {
  systemRole: string;
  roleKeys: readonly string[];
  memberOverrideCents: bigint | null;
  roleLimitsCents: ReadonlyMap<string, bigint>;
}): bigint | null {
  if (input.memberOverrideCents !== null) return input.memberOverrideCents;
  if (input.systemRole === 'owner') return null;
  let best = 0n;
  for (const key of [input.systemRole, ...input.roleKeys]) {
    const limit = input.roleLimitsCents.get(key);
    if (limit !== undefined && limit > best) best = limit;
  }
  return best;
}

/** Parses a decimal amount with at most two decimals (`"1234.5"`) into cents. */
export function toCents(amount: string): bigint {
  const m = /^(\d{1,12})(?:\.(\d{1,2}))?$/.exec(amount);
  if (m === null) throw new RangeError(`not an amount: ${amount}`);
  return BigInt(m[1] ?? '0') * 100n + BigInt((m[2] ?? '').padEnd(2, '0'));
}

export function formatCents(cents: bigint): string {
  const whole = cents / 100n;
  const frac = (cents % 100n).toString().padStart(2, '0');
  return `${whole.toString()}.${frac}`;
}
