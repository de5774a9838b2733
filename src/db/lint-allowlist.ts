/**
 * Deliberate exceptions to the RLS lint (src/db/lint.ts). Every entry says why it is safe; an
 * entry without a reason, or a reason that no longer holds, is a hole. Keys are `schema.name`.
 */

/** SECURITY DEFINER functions that palisade_app or palisade_system may execute. */
export const definerFunctions: Readonly<Record<string, string>> = {
  'palisade.set_context':
    'sets the request context transaction-locally; refuses a second call in the same transaction',
  'palisade.system_ok':
    'compares the transaction key with palisade_private.system_keys (unreadable by app roles); returns only a boolean',
  'palisade.enter_system':
    'executable by palisade_system only; refuses any key that is not a registered process key, logs each use',
  'palisade.begin_request':
    'takes a session token hash and returns only that session\'s own user, e-mail and role after every revocation check; sets the context once per transaction',
  'palisade.audit_seal':
    'executable by palisade_system only; writes chain fields of unsealed events once, after checking the batch continues the head',
  'palisade.audit_has_unsealed':
    'returns one boolean (some audit event awaits sealing), so the sealer need not open the bypass to find out',
  'palisade.mail_due':
    'returns one boolean (some mail is due), so an idle mail dispatcher need not open the bypass',
  'palisade.audit_purge':
    'executable by palisade_system only; deletes only sealed, expired, unheld events from the start of a chain, with a signed certificate',
};

/**
 * Tenant tables without the audit row trigger. Every other table in a tenant schema must carry
 * palisade_private.audit_row (enable_audit), for INSERT, UPDATE and DELETE, ENABLE ALWAYS.
 */
export const unauditedTables: Readonly<Record<string, string>> = {
  'tenant.audit_events': 'the audit trail itself (auditing it would recurse)',
  'tenant.audit_checkpoints': 'append-only, signed, written only by the sealer; verify checks every one',
  'tenant.audit_purges': 'append-only signed deletion certificates; each purge also records an audit.purged event',
  'tenant.access_versions': 'a counter that invalidates cached permission sets; the changes that move it are audited on their own tables',
  'tenant.role_changes': 'the append-only role-change trail (AUD-9), written by triggers on roles, member_roles and members, which are audited themselves',
};

/** Tables or views that app roles may read without row-level security. None so far. */
export const readableWithoutRls: Readonly<Record<string, string>> = {};
