-- Verify, fast mode (src/audit/verify.ts): the server walks every chain's links in seq order.
-- With the two hashes in the chain index, that walk is an index-only scan: no sort and no heap
-- access (an ordered heap walk of events interleaved across workspaces costs ~5 µs per event).
-- Replaces audit_events_chain: same key, same uniqueness, same partial predicate, so every
-- lookup by (workspace_id, seq) that used it uses this one. The hashes are written once, by the
-- sealer, so writers never pay for the wider entries.
CREATE UNIQUE INDEX audit_events_chain_links ON tenant.audit_events (workspace_id, seq)
  INCLUDE (prev_hash, hash) WHERE seq IS NOT NULL;
DROP INDEX tenant.audit_events_chain;
