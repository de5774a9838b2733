import { z } from 'zod';
import type { Sql } from '../db/types.ts';
import type { Checkpoint } from './verify.ts';

const FORMAT = 'palisade-audit-checkpoints/v1';

const FileSchema = z.object({
  format: z.literal(FORMAT),
  exported_at: z.string(),
  checkpoints: z.array(
    z.object({
      workspace_id: z.uuid(),
      seq: z.string().regex(/^\d+$/),
      hash: z.string().regex(/^[0-9a-f]{64}$/),
      signed_at: z.iso.datetime(),
      key_id: z.string().regex(/^[0-9a-f]{16}$/),
      signature: z.base64(),
    }),
  ),
});

/**
 * The latest signed checkpoint of every workspace (or all of them), as a JSON document to keep
 * outside the database: it is what exposes a chain rewritten end to end by a database superuser.
 */
export async function exportCheckpoints(sql: Sql, options: { all?: boolean } = {}): Promise<string> {
  // signed_at as epoch milliseconds: independent of the session's DateStyle and TimeZone.
  const columns = `workspace_id, seq, hash, (pg_catalog.date_part('epoch', signed_at) * 1000)::bigint AS signed_at, key_id, signature`;
  const { rows } = await sql.query<{ workspace_id: string; seq: string; hash: Buffer; signed_at: string; key_id: string; signature: Buffer }>(
    options.all === true
      ? `SELECT ${columns} FROM tenant.audit_checkpoints ORDER BY workspace_id, seq`
      : `SELECT DISTINCT ON (workspace_id) ${columns} FROM tenant.audit_checkpoints ORDER BY workspace_id, seq DESC`,
  );
  return `${JSON.stringify(
    {
      format: FORMAT,
      exported_at: new Date().toISOString(),
      checkpoints: rows.map((r) => ({
        workspace_id: r.workspace_id,
        seq: r.seq,
        hash: r.hash.toString('hex'),
        signed_at: new Date(Number(r.signed_at)).toISOString(),
        key_id: r.key_id,
        signature: r.signature.toString('base64'),
      })),
    },
    null,
    2,
  )}\n`;
}

/** Parses an exported checkpoints file; throws with the offending field on a malformed one. */
export function parseCheckpoints(text: string): Checkpoint[] {
  const parsed = FileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(`not a Palisade checkpoints file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data.checkpoints.map((c) => ({
    workspaceId: c.workspace_id,
    seq: BigInt(c.seq),
    hash: Buffer.from(c.hash, 'hex'),
    signedAt: new Date(c.signed_at),
    keyId: c.key_id,
    signature: Buffer.from(c.signature, 'base64'),
  }));
}
