import { defineErrors } from '../kernel/errors.ts';

/** Errors of sign-in, sessions, invitations and passwords. */
export const identityErrors = defineErrors({
  AUTHENTICATION_REQUIRED: { status: 401, title: 'Sign in first' },
  SESSION_INVALID: { status: 401, title: 'The session is not valid; sign in again' },
  SESSION_REVOKED: { status: 401, title: 'The session was signed out; sign in again' },
  SESSION_EXPIRED: { status: 401, title: 'The session expired; sign in again' },
  SESSION_IDLE: { status: 401, title: 'The session was idle for too long; sign in again' },
  USER_DEACTIVATED: { status: 401, title: 'The account is deactivated' },
  ROLE_CHANGED: { status: 401, title: 'Your role in this workspace changed; sign in again' },
  MEMBERSHIP_DEACTIVATED: { status: 401, title: 'Your access to this workspace was deactivated' },
  WORKSPACE_SESSIONS_REVOKED: { status: 401, title: 'All sessions of this workspace were signed out; sign in again' },
  NOT_A_MEMBER: { status: 404, title: 'No such workspace' },
  INVALID_CREDENTIALS: { status: 401, title: 'Wrong e-mail or password' },
  ACCOUNT_LOCKED: { status: 423, title: 'Too many failed sign-ins; the account is locked for a while' },
  FORBIDDEN: { status: 403, title: 'Your role does not allow this' },
  CSRF_TOKEN_INVALID: { status: 403, title: 'Missing or wrong X-CSRF-Token header' },
  ORIGIN_NOT_ALLOWED: { status: 403, title: 'Cross-origin request refused' },
  WEAK_PASSWORD: { status: 422, title: 'The password does not meet the policy' },
  INVALID_EMAIL: { status: 422, title: 'Give exactly one e-mail address' },
  INVITATION_INVALID: { status: 410, title: 'This invitation link is not valid' },
  INVITATION_EXPIRED: { status: 410, title: 'This invitation expired; ask for a new one' },
  INVITATION_USED: { status: 410, title: 'This invitation was already used' },
  INVITATION_REVOKED: { status: 410, title: 'This invitation was withdrawn or replaced by a newer one' },
  INVITATION_WRONG_ACCOUNT: { status: 403, title: 'This invitation is for another e-mail address' },
  INVITATION_SIGN_IN_REQUIRED: { status: 409, title: 'An account exists for this e-mail: sign in, then accept' },
  RESET_LINK_INVALID: { status: 410, title: 'This password reset link is not valid, expired or was used' },
  SETUP_LINK_INVALID: { status: 410, title: 'This setup link is not valid, expired or was used' },
  LAST_OWNER: { status: 409, title: 'A workspace keeps at least one owner' },
  MEMBER_NOT_FOUND: { status: 404, title: 'No such member' },
  SESSION_NOT_FOUND: { status: 404, title: 'No such session' },
  WORKSPACE_SLUG_TAKEN: { status: 409, title: 'That workspace address is taken' },
});

export type IdentityErrorCode = keyof typeof identityErrors;
