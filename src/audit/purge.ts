import type { Database } from '../db/database.ts';
import { recordEvent } from './events.ts';
import { certificateMessage, type AuditSigner } from './signing.ts';

export interface DeletionCertificate {
  workspaceId: string;
  fromSeq: bigint;
  throughSeq: bigint;
  eventCount: bigint;
  /** The hash of event `throughSeq`: the first remaining event links to it. */
  boundaryHash: Buffer;
  cutoff: Date;
  purgedAt: Date;
  keyId: string;
  signature: Buffer;
}

/**
 * Purges a workspace's expired audit events (AUD-7) through the one privileged routine,
 * palisade.audit_purge(). Removes the oldest run of sealed events that are all past retention and
 * under no legal hold (a held event stops the run: the chain is never holed), always keeping the
 * newest event as the chain head. Signs a deletion certificate, records a PURGE event, and returns
 * the certificate, or null when nothing is due.
 */
export async function purgeExpired(db: Database, signer: AuditSigner, workspaceId: string): Promise<DeletionCertificate | null> {
  return db.withSystem('audit: purge expired events', async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('palisade.audit:' || $1::text, 0))`, [workspaceId]);
    const { rows } = await tx.query<{ cutoff: Date; first: string | null; head: string | null; stop: string | null }>(
      `WITH policy AS (
         SELECT date_trunc('milliseconds', now() - make_interval(days => coalesce(
                  (SELECT retention_days FROM tenant.audit_config WHERE workspace_id = $1), 2557))) AS cutoff),
       chain AS (
         SELECT min(seq) AS first, max(seq) AS head FROM tenant.audit_events WHERE workspace_id = $1 AND seq IS NOT NULL)
       SELECT policy.cutoff, chain.first, chain.head,
              (SELECT min(e.seq) FROM tenant.audit_events e
                WHERE e.workspace_id = $1 AND e.seq IS NOT NULL
                  AND (e.occurred_at >= policy.cutoff OR EXISTS (
                        SELECT FROM tenant.audit_legal_holds h
                         WHERE h.workspace_id = $1 AND h.released_at IS NULL
                           AND ((e.occurred_at BETWEEN h.from_time AND h.to_time)
                             OR (e.table_name = h.table_name AND e.record_id = h.record_id))))) AS stop
         FROM policy, chain`,
      [workspaceId],
    );
    const plan = rows[0];
    if (plan?.first == null || plan.head == null) return null;
    const first = BigInt(plan.first);
    const head = BigInt(plan.head);
    // Up to the first event that must stay, and never the head itself.
    const through = [head - 1n, plan.stop === null ? head - 1n : BigInt(plan.stop) - 1n].reduce((a, b) => (a < b ? a : b));
    if (through < first) return null;
    const boundary = await tx.query<{ hash: Buffer }>(
      'SELECT hash FROM tenant.audit_events WHERE workspace_id = $1 AND seq = $2',
      [workspaceId, through.toString()],
    );
    const boundaryHash = boundary.rows[0]?.hash;
    if (boundaryHash === undefined) throw new Error(`audit purge: event ${through} of ${workspaceId} is missing`);
    const certificate = {
      workspaceId,
      fromSeq: first,
      throughSeq: through,
      eventCount: through - first + 1n,
      boundaryHash,
      cutoff: plan.cutoff,
      purgedAt: new Date(),
    };
    const signature = signer.sign(certificateMessage(certificate));
    await tx.query('SELECT palisade.audit_purge($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
      workspaceId,
      certificate.fromSeq.toString(),
      certificate.throughSeq.toString(),
      certificate.eventCount.toString(),
      boundaryHash,
      certificate.cutoff,
      certificate.purgedAt,
      signer.keyId,
      signature,
    ]);
    await recordEvent(tx, {
      workspaceId,
      eventType: 'audit.purged',
      action: 'PURGE',
      tableName: 'tenant.audit_events',
      newValues: {
        from_seq: certificate.fromSeq.toString(),
        through_seq: certificate.throughSeq.toString(),
        event_count: certificate.eventCount.toString(),
        boundary_hash: boundaryHash.toString('hex'),
        cutoff: certificate.cutoff.toISOString(),
      },
    });
    return { ...certificate, keyId: signer.keyId, signature };
  });
}
