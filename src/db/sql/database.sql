-- Per-database hardening, run by an administrator connected to the Palisade database.
-- :"database" is replaced by the caller with a validated identifier.
GRANT CONNECT, CREATE ON DATABASE :"database" TO palisade_owner;
GRANT CONNECT ON DATABASE :"database" TO palisade_app;
-- Nobody else may create schemas or temporary tables here (the app "creates nothing").
REVOKE CREATE, TEMPORARY ON DATABASE :"database" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- The app may not run DO blocks or create plpgsql functions; only the owner writes plpgsql.
REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC;
GRANT USAGE ON LANGUAGE plpgsql TO palisade_owner;
-- set_config() is how a tenant is chosen. The app may not call it at all: stacked or nested SQL
-- injection (`… , set_config('palisade.workspace_id', …)`) cannot switch workspace or role, and no
-- session-level setting can leak to the next transaction on a pooled connection. Context is set
-- only through palisade.set_context(), which is transaction-local and refuses a second call.
REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO palisade_owner;
