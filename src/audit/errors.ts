import { defineErrors } from '../kernel/errors.ts';

/** Errors of audit search and export (AUD-6). */
export const auditErrors = defineErrors({
  AUDIT_CURSOR_INVALID: { status: 400, title: 'The cursor is not one this audit search returned for these filters' },
  AUDIT_RANGE_INVALID: { status: 400, title: 'The date range is empty: from is after to' },
});
