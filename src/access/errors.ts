import { defineErrors } from '../kernel/errors.ts';

/** Errors of roles, role assignments, explain and ownership transfer. */
export const accessErrors = defineErrors({
  ROLE_NOT_FOUND: { status: 404, title: 'No such role' },
  ROLE_NAME_TAKEN: { status: 409, title: 'A role with that name exists in this workspace' },
  ROLE_READ_ONLY: { status: 409, title: 'System and predefined roles cannot be edited or deleted; create a custom role' },
  SYSTEM_ROLE_NOT_ASSIGNABLE: { status: 422, title: "System roles (owner, admin, member) are set on the membership: PATCH the member's role" },
  ROLE_ALREADY_ASSIGNED: { status: 409, title: 'The member already holds that role' },
  ROLE_NOT_ASSIGNED: { status: 404, title: 'The member does not hold that role' },
  UNKNOWN_PERMISSION: { status: 422, title: 'No such permission in the catalog' },
  OWNER_ONLY_PERMISSION: { status: 422, title: 'Owner-only permissions cannot be put in a role' },
  OWNERSHIP_OFFER_INVALID: { status: 410, title: 'No open ownership offer for you with that id (withdrawn, expired or accepted)' },
  OWNERSHIP_TARGET_INVALID: { status: 422, title: 'Ownership can be offered only to another active member who is not an owner' },
});
