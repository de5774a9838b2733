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
};

/** Tables or views that app roles may read without row-level security. None so far. */
export const readableWithoutRls: Readonly<Record<string, string>> = {};
