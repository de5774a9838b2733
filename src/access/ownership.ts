import { recordEvent } from '../audit/events.ts';
import type { Sql } from '../db/types.ts';
import { errorsOf } from '../kernel/errors.ts';
import type { Actor } from './control.ts';
import { accessErrors } from './errors.ts';

const fail = errorsOf(accessErrors);

/** How long an ownership offer stays open. */
const OFFER_TTL_SECONDS = 72 * 3600;

export interface OwnershipOffer {
  id: string;
  toUserId: string;
  expiresAt: Date;
}

/**
 * Step one of an owner transfer (ACC-6): an owner offers ownership to another active member. A
 * newer offer withdraws the open one. Nothing changes until the member accepts.
 */
export async function offerOwnership(tx: Sql, actor: Actor, toUserId: string): Promise<OwnershipOffer> {
  const { rows: target } = await tx.query<{ role: string; status: string }>('SELECT role, status FROM tenant.members WHERE user_id = $1', [toUserId]);
  const t = target[0];
  if (t === undefined || t.status !== 'active' || t.role === 'owner' || toUserId === actor.userId) throw fail('OWNERSHIP_TARGET_INVALID');
  await tx.query('UPDATE tenant.ownership_offers SET withdrawn_at = now() WHERE accepted_at IS NULL AND withdrawn_at IS NULL');
  const { rows } = await tx.query<{ id: string; expires_at: Date }>(
    `INSERT INTO tenant.ownership_offers (workspace_id, from_user_id, to_user_id, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING id, expires_at`,
    [actor.workspaceId, actor.userId, toUserId, OFFER_TTL_SECONDS],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('offer insert returned nothing');
  await recordEvent(tx, { eventType: 'ownership.offered', action: 'ROLE_CHANGE', tableName: 'tenant.ownership_offers', recordId: row.id, newValues: { toUserId } });
  return { id: row.id, toUserId, expiresAt: row.expires_at };
}

/** An owner withdraws the open offer. */
export async function withdrawOwnershipOffer(tx: Sql): Promise<void> {
  const { rowCount } = await tx.query('UPDATE tenant.ownership_offers SET withdrawn_at = now() WHERE accepted_at IS NULL AND withdrawn_at IS NULL');
  if (rowCount === 0) throw fail('OWNERSHIP_OFFER_INVALID');
}

/**
 * Step two: the offered member accepts. They become an owner and the offering owner an admin, in
 * one transaction; both memberships' sessions end (ROLE_CHANGED), as with any system role change.
 * An offer whose maker is no longer an owner is void.
 */
export async function acceptOwnership(tx: Sql, actor: Actor, offerId: string): Promise<void> {
  const { rows } = await tx.query<{ from_user_id: string }>(
    `SELECT o.from_user_id FROM tenant.ownership_offers o
       JOIN tenant.members m ON m.user_id = o.from_user_id AND m.role = 'owner' AND m.status = 'active'
      WHERE o.id = $1 AND o.to_user_id = $2 AND o.accepted_at IS NULL AND o.withdrawn_at IS NULL AND o.expires_at > now()
      FOR UPDATE OF o`,
    [offerId, actor.userId],
  );
  const from = rows[0]?.from_user_id;
  if (from === undefined) throw fail('OWNERSHIP_OFFER_INVALID');
  await tx.query('UPDATE tenant.ownership_offers SET accepted_at = now() WHERE id = $1', [offerId]);
  await tx.query(`UPDATE tenant.members SET role = 'owner' WHERE user_id = $1`, [actor.userId]);
  await tx.query(`UPDATE tenant.members SET role = 'admin' WHERE user_id = $1`, [from]);
  await recordEvent(tx, {
    eventType: 'ownership.transferred', action: 'ROLE_CHANGE', tableName: 'tenant.members', recordId: actor.userId,
    oldValues: { owner: from }, newValues: { owner: actor.userId },
  });
}
