import { z } from 'zod';
import { defineFieldMask } from '../access/masking.ts';

/** Request and response shapes of the expenses routes. Bodies are strict: unknown fields are refused (400). */

export const workspaceParams = z.object({ workspaceId: z.uuid() });
export const memberParams = workspaceParams.extend({ userId: z.uuid() });
export const departmentParams = workspaceParams.extend({ departmentId: z.uuid() });
export const claimParams = workspaceParams.extend({ claimId: z.uuid() });
/** A predefined or system role's key, or a custom role's id. */
export const roleParams = workspaceParams.extend({
  role: z.string().regex(/^(?:[a-z][a-z0-9_]{0,62}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/),
});

/** A positive decimal amount with at most two decimals, as a string (no binary floating point near money). */
export const amount = z.string().regex(/^\d{1,12}(?:\.\d{1,2})?$/, 'a decimal amount with at most two decimals, e.g. "1250.00"');
const positiveAmount = amount.refine((a) => /[1-9]/.test(a), 'must be more than zero');

export const departmentCreateBody = z.strictObject({
  code: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  name: z.string().trim().min(1).max(200),
  parentId: z.uuid().nullable().optional(),
  headUserId: z.uuid().nullable().optional(),
});
export const departmentUpdateBody = departmentCreateBody.partial();
export type DepartmentInput = z.infer<typeof departmentUpdateBody>;

export const memberDepartmentBody = z.strictObject({ departmentId: z.uuid().nullable() });

export const limitBody = z.strictObject({ limit: amount });

export const claimBody = z.strictObject({
  amount: positiveAmount,
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code in capitals, e.g. "EUR"'),
  description: z.string().trim().min(1).max(1000),
  payeeBankRef: z.string().trim().min(1).max(64).optional(),
});
export type ClaimInput = z.infer<typeof claimBody>;

export const decisionBody = z.strictObject({ note: z.string().trim().max(2000).optional() });

export const claimListQuery = z.strictObject({
  status: z.enum(['submitted', 'approved', 'rejected']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(200).optional(),
});

export const DEPARTMENT = z.object({
  id: z.uuid(),
  code: z.string(),
  name: z.string(),
  parentId: z.uuid().nullable(),
  headUserId: z.uuid().nullable(),
  createdAt: z.date(),
});
export type DepartmentView = z.infer<typeof DEPARTMENT>;

const STATUS = z.enum(['submitted', 'approved', 'rejected']);

export const CLAIM = z.object({
  id: z.uuid(),
  submitterId: z.uuid(),
  departmentId: z.uuid(),
  amount: z.string(),
  currency: z.string(),
  description: z.string(),
  /** Present only for callers holding expenses.read_bank_details (ISO-7). */
  payeeBankRef: z.string().nullable().optional(),
  status: STATUS,
  decidedBy: z.uuid().nullable(),
  decidedAt: z.date().nullable(),
  decisionNote: z.string().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export interface ClaimView {
  id: string;
  submitterId: string;
  departmentId: string;
  amount: string;
  currency: string;
  description: string;
  payeeBankRef: string | null;
  status: 'submitted' | 'approved' | 'rejected';
  decidedBy: string | null;
  decidedAt: Date | null;
  decisionNote: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const CLAIM_EVENT = z.object({
  id: z.uuid(),
  occurredAt: z.date(),
  actorUserId: z.uuid().nullable(),
  action: STATUS,
  fromStatus: STATUS.nullable(),
  toStatus: STATUS,
  note: z.string().nullable(),
});
export type ClaimEventView = z.infer<typeof CLAIM_EVENT>;

export const LIMITS = z.object({
  yours: z.string().nullable(),
  roles: z.array(z.object({ role: z.string(), name: z.string(), limit: z.string().nullable(), source: z.enum(['default', 'workspace']) })),
  members: z.array(z.object({ userId: z.uuid(), limit: z.string() })),
});

/** The sensitive fields of a claim and the permission that reveals each (ISO-7). */
export const claimMask = defineFieldMask({ payeeBankRef: 'expenses.read_bank_details' });
