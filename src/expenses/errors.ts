import { defineErrors } from '../kernel/errors.ts';

/** Errors of departments, expense claims and approval limits. */
export const expensesErrors = defineErrors({
  CLAIM_NOT_FOUND: { status: 404, title: 'No such expense claim' },
  NO_DEPARTMENT: { status: 422, title: 'You belong to no department; an expenses manager must set yours before you submit claims' },
  DEPARTMENT_NOT_FOUND: { status: 404, title: 'No such department' },
  UNKNOWN_DEPARTMENT: { status: 422, title: 'The department named in the request does not exist in this workspace' },
  DEPARTMENT_CODE_TAKEN: { status: 409, title: 'A department with that code exists in this workspace' },
  DEPARTMENT_CYCLE: { status: 422, title: 'A department cannot be its own parent or the parent of one of its ancestors' },
  DEPARTMENT_HEAD_INVALID: { status: 422, title: 'The head of a department must be an active member of the workspace' },
  LIMIT_NOT_SETTABLE: { status: 422, title: 'Owners have no role limit; set a member override instead' },
  LIMIT_NOT_SET: { status: 404, title: 'No approval limit override is set for that role or member' },
  CLAIM_CURSOR_INVALID: { status: 400, title: 'The cursor is not one this list returned' },
});
