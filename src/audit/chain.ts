import { createHash } from 'node:crypto';

/**
 * Canonical form, version 2 (every event sealed since migration 0003): the binary output of
 * PostgreSQL's `record_send` over a row of every recorded field, built from built-ins only. It is
 * a length-prefixed, typed encoding (column count, then each column's type OID, length, binary
 * value; -1 for NULL), so NULL and '' stay apart and no separator inside a value can shift content
 * from one field to another. The time is the binary timestamptz (microseconds since 2000-01-01
 * UTC), independent of the session's TimeZone and DateStyle; jsonb is its version byte and text;
 * the action enum goes in as text because an enum's type OID differs between databases. Text is
 * sent in the client encoding, which both drivers fix to UTF-8 (verify checks it).
 *
 * Why binary: rendering this row costs the server about a third of version 1's jsonb text, and
 * the server-side ("fast") verify hashes it where it lies without sending it anywhere.
 *
 * The sequence number is not in it (an unsealed event has none yet): {@link linkHash} covers it.
 * The sealer and both verify modes use this same expression. Changing it invalidates every chain
 * sealed with it: add a version instead, as version 2 was added next to {@link CANONICAL_V1_SQL}.
 * A version-2 canonical form starts with the int4 column count (byte 0x00), version 1 with `[`,
 * so the two can never produce the same hash input.
 */
export const CANONICAL_SQL = `pg_catalog.record_send(ROW(
  2, e.workspace_id, e.id, e.occurred_at, e.event_type, e.action::text, e.actor_user_id, e.actor_email,
  e.actor_role, e.session_id, e.device_id, e.ip, e.user_agent, e.route, e.table_name, e.record_id,
  e.old_values, e.new_values, e.reason))`;

/**
 * Canonical form, version 1 (events sealed before migration 0003): one text PostgreSQL renders
 * with jsonb_build_array, the time as epoch microseconds. Still verified: a sealed event keeps the
 * form it was sealed with. Verify tries version 2 first, then this one.
 */
export const CANONICAL_V1_SQL = `pg_catalog.jsonb_build_array(
  1, e.workspace_id, e.id,
  pg_catalog.trunc(pg_catalog.date_part('epoch', e.occurred_at) * 1000000)::bigint,
  e.event_type, e.action, e.actor_user_id, e.actor_email, e.actor_role, e.session_id, e.device_id,
  pg_catalog.host(e.ip), e.user_agent, e.route, e.table_name, e.record_id, e.old_values, e.new_values, e.reason
)::text`;

/**
 * The stored hash recomputed by the server from the row (the "fast" verify): version 2, and
 * version 1 only for an event whose version-2 hash does not match (CASE evaluates lazily).
 */
export const SERVER_LINK_HASH_OK_SQL = `CASE
  WHEN e.hash OPERATOR(pg_catalog.=) pg_catalog.sha256(e.prev_hash OPERATOR(pg_catalog.||) pg_catalog.int8send(e.seq) OPERATOR(pg_catalog.||) ${CANONICAL_SQL}) THEN true
  ELSE e.hash OPERATOR(pg_catalog.=) pg_catalog.sha256(e.prev_hash OPERATOR(pg_catalog.||) pg_catalog.int8send(e.seq)
         OPERATOR(pg_catalog.||) pg_catalog.convert_to(${CANONICAL_V1_SQL}, 'UTF8'))
END`;

/** The hash the first event of a workspace links to. */
export function genesisHash(workspaceId: string): Buffer {
  return createHash('sha256').update(`palisade:audit:v1:genesis:${workspaceId}`, 'utf8').digest();
}

/**
 * SHA-256(prev_hash ‖ seq as 8 bytes big-endian ‖ canonical event), the canonical event being
 * version-2 bytes or version-1 text (hashed as UTF-8).
 */
export function linkHash(prevHash: Uint8Array, seq: bigint, canonical: string | Uint8Array): Buffer {
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(seq);
  const hash = createHash('sha256').update(prevHash).update(seqBytes);
  if (typeof canonical === 'string') hash.update(canonical, 'utf8');
  else hash.update(canonical);
  return hash.digest();
}

/** The workspace that holds the platform's own events (withSystem uses): the nil UUID. */
export const PLATFORM_WORKSPACE = '00000000-0000-0000-0000-000000000000';
