import { AuditSigner, trustedKeys } from '../src/audit/signing.ts';
import { verifyAudit, type Checkpoint, type VerifyReport } from '../src/audit/verify.ts';
import type { Database } from '../src/db/database.ts';
import type { AdminSql } from './db.ts';

/** A signer and the verifier's trust in it, for one test file. */
export function testSigner(): { signer: AuditSigner; verify: (db: Database, options?: { workspaceId?: string; exported?: Checkpoint[] }) => Promise<VerifyReport> } {
  const signer = AuditSigner.generate();
  const keys = trustedKeys(signer.publicKey);
  return {
    signer,
    verify: (db, options = {}) => db.withSystem('test: verify audit', (tx) => verifyAudit(tx, { keys, ...options })),
  };
}

/**
 * Runs `sql` as a database superuser with the audit tables' protective triggers off, the way an
 * attacker with superuser rights would, inside one transaction so other sessions never see the
 * triggers disabled.
 */
export async function asSuperuserWithoutTriggers(admin: AdminSql, fn: () => Promise<void>): Promise<void> {
  await admin.script(`BEGIN;
    ALTER TABLE tenant.audit_events DISABLE TRIGGER USER;
    ALTER TABLE tenant.audit_checkpoints DISABLE TRIGGER USER;`);
  try {
    await fn();
    await admin.script(`
      ALTER TABLE tenant.audit_events ENABLE ALWAYS TRIGGER audit_stamp;
      ALTER TABLE tenant.audit_events ENABLE ALWAYS TRIGGER audit_immutable;
      ALTER TABLE tenant.audit_events ENABLE ALWAYS TRIGGER audit_no_truncate;
      ALTER TABLE tenant.audit_checkpoints ENABLE ALWAYS TRIGGER append_only;
      ALTER TABLE tenant.audit_checkpoints ENABLE ALWAYS TRIGGER append_only_truncate;
      COMMIT;`);
  } catch (error) {
    await admin.script('ROLLBACK');
    throw error;
  }
}
