-- Cluster-level roles, created by an administrator (`palisade db setup`, or the embedded bootstrap).
-- Idempotent: safe to run again; it re-asserts every attribute so a drifted role is repaired.
--
--   palisade_owner   owns every schema, table and function; runs migrations. Never used by requests.
--   palisade_app     what requests run as: no BYPASSRLS, owns nothing, creates nothing. NOINHERIT so
--                    that its membership in palisade_system/palisade_anon grants nothing by itself:
--                    it must SET ROLE, and palisade_system's policies then demand the process secret.
--   palisade_system  the only cross-workspace role (withSystem). NOLOGIN. Its policies require
--                    palisade.system_ok(), i.e. the per-process secret; without it, it sees 0 rows.
--   palisade_anon    unauthenticated requests (health checks): no grants on any data.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'palisade_owner') THEN
    CREATE ROLE palisade_owner;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'palisade_app') THEN
    CREATE ROLE palisade_app;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'palisade_system') THEN
    CREATE ROLE palisade_system;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'palisade_anon') THEN
    CREATE ROLE palisade_anon;
  END IF;
END
$roles$;

ALTER ROLE palisade_owner NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;
ALTER ROLE palisade_app NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
ALTER ROLE palisade_system NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOLOGIN NOINHERIT;
ALTER ROLE palisade_anon NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOLOGIN NOINHERIT;

-- NOINHERIT is set before these grants: on PostgreSQL 16+ a grant's INHERIT option defaults from
-- the member's attribute, so the app never inherits palisade_system's policies or privileges.
GRANT palisade_system TO palisade_app;
GRANT palisade_anon TO palisade_app;
