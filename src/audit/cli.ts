import { readFile, writeFile } from 'node:fs/promises';
import type { Database } from '../db/database.ts';
import { PLATFORM_WORKSPACE } from './chain.ts';
import { exportCheckpoints, parseCheckpoints } from './checkpoints.ts';
import { purgeExpired } from './purge.ts';
import { sealAll } from './seal.ts';
import { publicKeyFromPem, trustedKeys, type AuditSigner } from './signing.ts';
import { verifyAll, type VerifyMode, type VerifyReport } from './verify.ts';

/** `palisade audit verify`: returns the printed report and whether every chain is intact. */
export async function verifyCommand(
  db: Database,
  signer: AuditSigner,
  options: { workspaceId?: string; checkpointsFile?: string; publicKeyFiles?: readonly string[]; mode?: VerifyMode },
): Promise<{ ok: boolean; text: string }> {
  const extraKeys = await Promise.all((options.publicKeyFiles ?? []).map(async (f) => publicKeyFromPem(await readFile(f, 'utf8'))));
  const exported = options.checkpointsFile === undefined ? undefined : parseCheckpoints(await readFile(options.checkpointsFile, 'utf8'));
  // Deep unless asked otherwise: every hash recomputed in this process (see VerifyMode).
  const report = await verifyAll(db, {
    keys: trustedKeys(signer.publicKey, ...extraKeys),
    mode: options.mode ?? 'deep',
    ...(options.workspaceId === undefined ? {} : { workspaceId: options.workspaceId }),
    ...(exported === undefined ? {} : { exported }),
  });
  return { ok: report.ok, text: formatReport(report, exported !== undefined) };
}

export function formatReport(report: VerifyReport, withFile: boolean): string {
  const lines = [
    ['workspace', 'events', 'first', 'head', 'unsealed', 'checkpoints', 'certificates', 'status'].join('\t'),
  ];
  for (const w of report.workspaces) {
    const name = w.workspaceId === PLATFORM_WORKSPACE ? `${w.workspaceId} (platform)` : w.workspaceId;
    lines.push(
      [name, w.events, w.firstSeq ?? '-', w.headSeq ?? '-', w.unsealed, w.checkpoints, w.certificates, w.problems.length === 0 ? 'ok' : 'BROKEN']
        .map(String)
        .join('\t'),
    );
    for (const p of w.problems) lines.push(`  ✗ ${p}`);
  }
  const rate = report.seconds > 0 ? Math.round(report.eventsChecked / report.seconds) : report.eventsChecked;
  lines.push(
    `verified ${report.eventsChecked} events in ${report.seconds.toFixed(2)} s (${rate} events/s)` +
      (report.mode === 'fast' ? ' (fast: hashes recomputed by the database server)' : ' (deep: hashes recomputed here)') +
      `${withFile ? ', against the exported checkpoints' : ''}: ${report.ok ? 'OK' : 'TAMPERING DETECTED'}`,
  );
  return lines.join('\n');
}

/** `palisade audit seal`: seals everything pending and signs a checkpoint of each new head. */
export async function sealCommand(db: Database, signer: AuditSigner): Promise<string> {
  const results = await sealAll(db, signer, { checkpointAfterMs: 0, force: true });
  const sealed = results.reduce((n, r) => n + r.sealed, 0);
  return `sealed ${sealed} events in ${results.length} workspace(s)`;
}

/** `palisade audit checkpoints --out FILE`. */
export async function exportCommand(db: Database, options: { out: string; all: boolean }): Promise<string> {
  const text = await db.withSystem('audit: export checkpoints', (tx) => exportCheckpoints(tx, { all: options.all }));
  await writeFile(options.out, text, { mode: 0o644 });
  const count = parseCheckpoints(text).length;
  return `wrote ${count} checkpoint(s) to ${options.out}: keep this file outside the database server`;
}

/** `palisade audit purge`: purges every workspace's expired events; prints the certificates. */
export async function purgeCommand(db: Database, signer: AuditSigner, options: { workspaceId?: string }): Promise<string> {
  const ids =
    options.workspaceId !== undefined
      ? [options.workspaceId]
      : (
          await db.withSystem('audit: list workspaces to purge', (tx) =>
            tx.query<{ id: string }>('SELECT DISTINCT workspace_id AS id FROM tenant.audit_events WHERE seq IS NOT NULL'),
          )
        ).rows.map((r) => r.id);
  const lines: string[] = [];
  for (const id of ids) {
    const c = await purgeExpired(db, signer, id);
    if (c === null) continue;
    lines.push(
      JSON.stringify({
        certificate: 'palisade-audit-deletion/v1',
        workspace_id: c.workspaceId,
        from_seq: c.fromSeq.toString(),
        through_seq: c.throughSeq.toString(),
        event_count: c.eventCount.toString(),
        boundary_hash: c.boundaryHash.toString('hex'),
        cutoff: c.cutoff.toISOString(),
        purged_at: c.purgedAt.toISOString(),
        key_id: c.keyId,
        signature: c.signature.toString('base64'),
      }),
    );
  }
  lines.push(`purged ${lines.length} workspace(s)`);
  return lines.join('\n');
}
