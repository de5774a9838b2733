-- Capture: the generic row trigger every audited table carries, the helper that attaches it, the
-- sealing and purge routines, and the bypass record.

-- Records one row change as an event, in the transaction that made it (AUD-3). Arguments, fixed
-- by enable_audit(): the workspace column, the key columns (comma-separated), then the columns
-- whose values are never recorded (only that they changed).
CREATE FUNCTION palisade_private.audit_row() RETURNS trigger
  LANGUAGE plpgsql
AS $$
DECLARE
  ws_column  text := TG_ARGV[0];
  key_cols   text[] := pg_catalog.string_to_array(TG_ARGV[1], ',');
  redacted   text[] := TG_ARGV[2:];
  old_row    jsonb;
  new_row    jsonb;
  old_values jsonb;
  new_values jsonb;
  subject    jsonb;
  marker     CONSTANT jsonb := '"[redacted]"';
BEGIN
  IF TG_OP <> 'INSERT' THEN old_row := pg_catalog.to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN new_row := pg_catalog.to_jsonb(NEW); END IF;
  IF TG_OP = 'UPDATE' THEN
    -- Only what changed; a redacted column appears as changed, never with its value.
    SELECT pg_catalog.jsonb_object_agg(o.key, CASE WHEN o.key = ANY (redacted) THEN marker ELSE o.value END),
           pg_catalog.jsonb_object_agg(o.key, CASE WHEN o.key = ANY (redacted) THEN marker ELSE n.value END)
      INTO old_values, new_values
      FROM pg_catalog.jsonb_each(old_row) o
      JOIN pg_catalog.jsonb_each(new_row) n ON n.key = o.key
     WHERE o.value IS DISTINCT FROM n.value;
    old_values := coalesce(old_values, '{}');
    new_values := coalesce(new_values, '{}');
  ELSE
    subject := coalesce(new_row, old_row);
    IF redacted <> '{}' THEN
      subject := subject || coalesce((SELECT pg_catalog.jsonb_object_agg(r, marker)
                                        FROM pg_catalog.unnest(redacted) r WHERE subject ? r), '{}');
    END IF;
    IF TG_OP = 'INSERT' THEN new_values := subject; ELSE old_values := subject; END IF;
  END IF;
  subject := coalesce(new_row, old_row);
  INSERT INTO tenant.audit_events (workspace_id, event_type, action, table_name, record_id, old_values, new_values)
  VALUES (
    (subject ->> ws_column)::uuid,
    CASE TG_OP WHEN 'INSERT' THEN 'data.created' WHEN 'UPDATE' THEN 'data.updated' ELSE 'data.deleted' END,
    (CASE TG_OP WHEN 'INSERT' THEN 'CREATE' WHEN 'UPDATE' THEN 'UPDATE' ELSE 'DELETE' END)::palisade.audit_action,
    TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
    CASE WHEN pg_catalog.cardinality(key_cols) = 1 THEN subject ->> key_cols[1]
         ELSE (SELECT pg_catalog.jsonb_object_agg(k, subject -> k) FROM pg_catalog.unnest(key_cols) k)::text END,
    old_values,
    new_values);
  RETURN NULL;
END
$$;

-- Attaches the audit trigger to a table (called by the migration that creates the table). Refuses
-- a table whose columns look secret unless each is listed in `redact`, so that a password hash or
-- a token can never reach old/new values by oversight.
CREATE FUNCTION palisade_private.enable_audit(
  tbl regclass,
  redact text[] DEFAULT '{}',
  workspace_column text DEFAULT 'workspace_id'
) RETURNS void
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  keys text;
  sensitive text;
  args text;
BEGIN
  SELECT pg_catalog.string_agg(a.attname, ',' ORDER BY pg_catalog.array_position(i.indkey, a.attnum))
    INTO keys
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
   WHERE i.indrelid = tbl AND i.indisprimary AND (a.attname <> workspace_column OR i.indnatts = 1);
  IF keys IS NULL THEN
    RAISE EXCEPTION '% needs a primary key to be audited', tbl;
  END IF;
  SELECT pg_catalog.string_agg(a.attname, ', ')
    INTO sensitive
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
     AND a.attname ~* '(password|secret|token|hash|cipher|encrypted|_enc$|totp|recovery|private|iban|bank|national_id|ssn)'
     AND NOT (a.attname = ANY (redact));
  IF sensitive IS NOT NULL THEN
    RAISE EXCEPTION 'columns % of % look sensitive: pass them in redact', sensitive, tbl;
  END IF;
  args := pg_catalog.quote_literal(workspace_column) || ', ' || pg_catalog.quote_literal(keys)
       || coalesce((SELECT pg_catalog.string_agg(', ' || pg_catalog.quote_literal(r), '') FROM pg_catalog.unnest(redact) r), '');
  EXECUTE pg_catalog.format(
    'CREATE TRIGGER audit_row AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION palisade_private.audit_row(%s)',
    tbl, args);
  -- ALWAYS: session_replication_role = replica must not switch auditing off.
  EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_row', tbl);
END
$$;

-- The kernel's tables, created before this module existed.
SELECT palisade_private.enable_audit('central.workspaces', workspace_column => 'id');
SELECT palisade_private.enable_audit('tenant.workspace_settings');
SELECT palisade_private.enable_audit('tenant.departments');
SELECT palisade_private.enable_audit('tenant.audit_config');
SELECT palisade_private.enable_audit('tenant.audit_legal_holds');

-- ---------------------------------------------------------------------------------------------
-- Sealing: the process computes hashes (src/audit/chain.ts) and hands them here. Runs as the
-- owner under a per-workspace lock, checks that the batch continues the current head, and writes
-- the chain fields once. A wrong hash cannot hide anything: `audit verify` recomputes every hash.
CREATE FUNCTION palisade.audit_seal(
  ws uuid, ids uuid[], seqs bigint[], prev_hashes bytea[], hashes bytea[]
) RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  head_seq bigint;
  head_hash bytea;
  n bigint;
BEGIN
  IF pg_catalog.cardinality(ids) = 0 THEN RETURN 0; END IF;
  IF pg_catalog.cardinality(seqs) <> pg_catalog.cardinality(ids)
     OR pg_catalog.cardinality(prev_hashes) <> pg_catalog.cardinality(ids)
     OR pg_catalog.cardinality(hashes) <> pg_catalog.cardinality(ids) THEN
    RAISE EXCEPTION 'audit_seal: arrays of different lengths';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('palisade.audit:' || ws::text, 0));
  PERFORM pg_catalog.set_config('palisade.audit_maintenance', 'seal', true);
  SELECT e.seq, e.hash INTO head_seq, head_hash
    FROM tenant.audit_events e
   WHERE e.workspace_id = ws AND e.seq IS NOT NULL
   ORDER BY e.seq DESC LIMIT 1;
  IF head_seq IS NULL THEN
    SELECT p.through_seq, p.boundary_hash INTO head_seq, head_hash
      FROM tenant.audit_purges p WHERE p.workspace_id = ws ORDER BY p.through_seq DESC LIMIT 1;
  END IF;
  IF seqs[1] <> coalesce(head_seq, 0) + 1 OR (head_hash IS NOT NULL AND prev_hashes[1] <> head_hash) THEN
    RAISE EXCEPTION 'audit_seal: the batch does not continue the chain head (seq %)', coalesce(head_seq, 0)
      USING ERRCODE = 'serialization_failure';
  END IF;
  UPDATE tenant.audit_events e
     SET seq = x.seq, prev_hash = x.prev_hash, hash = x.hash
    FROM unnest(ids, seqs, prev_hashes, hashes) AS x(id, seq, prev_hash, hash)
   WHERE e.workspace_id = ws AND e.id = x.id AND e.seq IS NULL;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> pg_catalog.cardinality(ids) THEN
    RAISE EXCEPTION 'audit_seal: % of % events were not found unsealed', pg_catalog.cardinality(ids) - n, pg_catalog.cardinality(ids)
      USING ERRCODE = 'serialization_failure';
  END IF;
  PERFORM pg_catalog.set_config('palisade.audit_maintenance', '', true);
  RETURN n;
END
$$;
GRANT EXECUTE ON FUNCTION palisade.audit_seal(uuid, uuid[], bigint[], bytea[], bytea[]) TO palisade_system;

-- Purge (AUD-7): the only way audit events are ever deleted. Deletes the oldest run of sealed
-- events of one workspace, through `through_seq`, after checking that each is past the
-- workspace's retention and under no legal hold, and that the boundary hash and counts are the
-- ones the caller signed. Records the signed deletion certificate. Callable only through
-- withSystem (EXECUTE is granted to palisade_system alone).
CREATE FUNCTION palisade.audit_purge(
  ws uuid, from_seq bigint, through_seq bigint, event_count bigint, boundary_hash bytea,
  cutoff timestamptz, purged_at timestamptz, key_id text, signature bytea
) RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  retention integer;
  first_seq bigint;
  head_seq bigint;
  n bigint;
BEGIN
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('palisade.audit:' || ws::text, 0));
  PERFORM pg_catalog.set_config('palisade.audit_maintenance', 'purge', true);
  SELECT c.retention_days INTO retention FROM tenant.audit_config c WHERE c.workspace_id = ws;
  IF cutoff > pg_catalog.now() - pg_catalog.make_interval(days => coalesce(retention, 2557)) THEN
    RAISE EXCEPTION 'audit_purge: cutoff % is inside the retention period of % days', cutoff, coalesce(retention, 2557)
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT min(e.seq), max(e.seq) INTO first_seq, head_seq
    FROM tenant.audit_events e WHERE e.workspace_id = ws AND e.seq IS NOT NULL;
  IF first_seq IS DISTINCT FROM from_seq OR through_seq >= head_seq THEN
    RAISE EXCEPTION 'audit_purge: range %..% does not start the chain or would remove its head', from_seq, through_seq;
  END IF;
  IF EXISTS (
    SELECT FROM tenant.audit_events e
     WHERE e.workspace_id = ws AND e.seq BETWEEN from_seq AND through_seq
       AND (e.occurred_at >= cutoff OR EXISTS (
             SELECT FROM tenant.audit_legal_holds h
              WHERE h.workspace_id = ws AND h.released_at IS NULL
                AND ((e.occurred_at BETWEEN h.from_time AND h.to_time)
                  OR (e.table_name = h.table_name AND e.record_id = h.record_id))))) THEN
    RAISE EXCEPTION 'audit_purge: the range holds events that are not expired or are under legal hold'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT EXISTS (SELECT FROM tenant.audit_events e
                  WHERE e.workspace_id = ws AND e.seq = through_seq AND e.hash = boundary_hash) THEN
    RAISE EXCEPTION 'audit_purge: boundary hash does not match event %', through_seq;
  END IF;
  DELETE FROM tenant.audit_events e WHERE e.workspace_id = ws AND e.seq BETWEEN from_seq AND through_seq;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> event_count THEN
    RAISE EXCEPTION 'audit_purge: % events in range, certificate says %', n, event_count;
  END IF;
  INSERT INTO tenant.audit_purges (workspace_id, from_seq, through_seq, event_count, boundary_hash, cutoff, purged_at, key_id, signature)
  VALUES (ws, from_seq, through_seq, event_count, boundary_hash, cutoff, purged_at, key_id, signature);
  PERFORM pg_catalog.set_config('palisade.audit_maintenance', '', true);
  RETURN n;
END
$$;
GRANT EXECUTE ON FUNCTION palisade.audit_purge(uuid, bigint, bigint, bigint, bytea, timestamptz, timestamptz, text, bytea)
  TO palisade_system;

-- ---------------------------------------------------------------------------------------------
-- The bypass record (ISO-4) lives in the audit trail: each withSystem() use becomes a SYSTEM
-- event of the platform trail (nil workspace), chained and checkpointed like any other.
CREATE OR REPLACE FUNCTION palisade.enter_system(key text, reason text) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  hash bytea := pg_catalog.sha256(pg_catalog.convert_to(coalesce(key, ''), 'UTF8'));
BEGIN
  IF NOT EXISTS (SELECT FROM palisade_private.system_keys k WHERE k.key_hash = hash) THEN
    RAISE EXCEPTION 'invalid system key' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_catalog.set_config('palisade.audit_maintenance', 'bypass', true);
  INSERT INTO tenant.audit_events (workspace_id, event_type, action, reason, new_values)
  VALUES ('00000000-0000-0000-0000-000000000000', 'system.bypass', 'SYSTEM', reason,
          pg_catalog.jsonb_build_object('key_id', pg_catalog.encode(pg_catalog.substr(hash, 1, 8), 'hex'),
                                        'backend_pid', pg_catalog.pg_backend_pid()));
  PERFORM pg_catalog.set_config('palisade.audit_maintenance', '', true);
  PERFORM pg_catalog.set_config('palisade.system_key', key, true);
  PERFORM pg_catalog.set_config('palisade.system_reason', reason, true);
END
$$;

-- Whether any event waits to be sealed, not counting the sealer's own bypass records (they are
-- sealed with the next real work). Lets the sealer's timer ask without opening the bypass, which
-- would itself write an event, every tick, forever. Returns one boolean and nothing else.
CREATE FUNCTION palisade.audit_has_unsealed() RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  pending boolean;
BEGIN
  PERFORM pg_catalog.set_config('palisade.audit_maintenance', 'seal', true);
  SELECT EXISTS (
    SELECT FROM tenant.audit_events e
     WHERE e.seq IS NULL
       AND NOT (e.workspace_id = '00000000-0000-0000-0000-000000000000'
                AND e.event_type = 'system.bypass' AND e.reason LIKE 'audit: %')) INTO pending;
  PERFORM pg_catalog.set_config('palisade.audit_maintenance', '', true);
  RETURN pending;
END
$$;
GRANT EXECUTE ON FUNCTION palisade.audit_has_unsealed() TO palisade_app;
