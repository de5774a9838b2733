import type { Recipe } from '../src/access/matrix.test.ts';

/**
 * The audit routes' part of the access matrix (issue 5, item 9), to be spread into MATRIX
 * (test/access-matrix.ts) and RECIPES (src/access/matrix.test.ts). Columns as in MATRIX:
 * anon, owner, admin, member, viewer, comply, finance, hr, manager, pm, lead, employee, contractor, support. audit.read and audit.export are held by
 * Owner and Admin (all permissions) and the Compliance Officer; the Administrator role (not a
 * column) has audit.read only.
 */
const P = '/api/v1/workspaces/:workspaceId';

export const AUDIT_MATRIX: Readonly<Record<string, readonly number[]>> = {
  //                                anon owner admin member viewer comply finance hr
  [`GET ${P}/audit/events`]:       [401, 200, 200, 403, 403, 200, 403, 403, 403, 403, 403, 403, 403, 403],
  [`GET ${P}/audit/export.csv`]:   [401, 200, 200, 403, 403, 200, 403, 403, 403, 403, 403, 403, 403, 403],
};

export const AUDIT_RECIPES: Record<string, Recipe> = {
  [`GET ${P}/audit/events`]: async (c) => ({ url: `/api/v1/workspaces/${c.ws}/audit/events?limit=10&type=access.*` }),
  [`GET ${P}/audit/export.csv`]: async (c) => ({ url: `/api/v1/workspaces/${c.ws}/audit/export.csv?type=access.*` }),
};
