import { createHash } from 'node:crypto';

/**
 * The canonical form of an event, as one text PostgreSQL renders from the row with built-in
 * functions only (schema-qualified, so a shadowing function cannot change it): a JSON array of
 * every recorded field. The timestamp goes in as epoch microseconds, a number, so a session's
 * TimeZone or DateStyle cannot change it; jsonb's text output is deterministic, and a JSON array
 * keeps NULL and '' apart and cannot be confused by separators inside a value.
 *
 * The sequence number is not in it (an unsealed event has none yet): {@link linkHash} covers it.
 * The sealer and the verifier both read this same expression and hash its bytes in Node.
 * Changing it invalidates every chain: add a new version instead.
 */
export const CANONICAL_SQL = `pg_catalog.jsonb_build_array(
  1, e.workspace_id, e.id,
  pg_catalog.trunc(pg_catalog.date_part('epoch', e.occurred_at) * 1000000)::bigint,
  e.event_type, e.action, e.actor_user_id, e.actor_email, e.actor_role, e.session_id, e.device_id,
  pg_catalog.host(e.ip), e.user_agent, e.route, e.table_name, e.record_id, e.old_values, e.new_values, e.reason
)::text`;

/** The hash the first event of a workspace links to. */
export function genesisHash(workspaceId: string): Buffer {
  return createHash('sha256').update(`palisade:audit:v1:genesis:${workspaceId}`, 'utf8').digest();
}

/** SHA-256(prev_hash ‖ seq as 8 bytes big-endian ‖ canonical event). */
export function linkHash(prevHash: Uint8Array, seq: bigint, canonical: string): Buffer {
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(seq);
  return createHash('sha256').update(prevHash).update(seqBytes).update(canonical, 'utf8').digest();
}

/** The workspace that holds the platform's own events (withSystem uses): the nil UUID. */
export const PLATFORM_WORKSPACE = '00000000-0000-0000-0000-000000000000';
