-- The mail outbox: e-mails are queued in the business transaction (a rollback sends nothing) and
-- sent after commit by the dispatcher (src/notify/dispatcher.ts), or read with
-- `npm run palisade -- outbox` when no SMTP_URL is configured.

-- Central, not tenant: password-reset mails belong to a person, not to a workspace, so
-- workspace_id is NULL for them (queued inside withSystem). Invitations carry their workspace.
CREATE TABLE central.mail_outbox (
  id              uuid PRIMARY KEY,
  workspace_id    uuid REFERENCES central.workspaces (id) ON DELETE CASCADE,
  kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,39}$'),
  -- Exactly one plain address: no list separators, angle brackets, quotes, spaces or line breaks
  -- (header injection and multi-recipient resets, GitLab CVE-2023-7028). queueMail checks more.
  to_address      text NOT NULL CHECK (length(to_address) <= 254
                                       AND to_address ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$'),
  subject         text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200 AND subject !~ '[[:cntrl:]]'),
  -- May hold one-time links. Cleared once the SMTP server accepted the mail, so tokens do not
  -- linger in the database, its backups or replicas; kept while the mail waits to be read.
  text_body       text CHECK (length(text_body) <= 100000),
  status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error      text CHECK (length(last_error) <= 500),
  -- When a dispatcher may next claim the mail: now() when queued; a lease while one is sending
  -- it (another server skips it); the retry backoff after a failure; 'infinity' once it was
  -- announced in the log in outbox mode (no SMTP), where it waits to be read, not sent.
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  created_at      timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
  CHECK ((status = 'sent') = (text_body IS NULL))
);
-- The dispatchers' queue: only waiting mails are in it, so it stays small.
CREATE INDEX mail_outbox_queued ON central.mail_outbox (next_attempt_at) WHERE status = 'queued';
-- For ON DELETE CASCADE when a workspace is erased.
CREATE INDEX mail_outbox_workspace ON central.mail_outbox (workspace_id);

-- RLS, enabled and forced (the owner included). The app may only queue mail for the workspace of
-- its transaction and may not read the queue back at all: bodies hold other people's one-time
-- links. No SELECT grant means INSERT … RETURNING is refused too, so queueMail makes the id itself.
ALTER TABLE central.mail_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE central.mail_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY mail_outbox_app_insert ON central.mail_outbox FOR INSERT TO palisade_app
  WITH CHECK (workspace_id = (SELECT palisade.current_workspace()));
CREATE POLICY mail_outbox_system ON central.mail_outbox FOR ALL TO palisade_system
  USING ((SELECT palisade.system_ok())) WITH CHECK ((SELECT palisade.system_ok()));
-- Column grant: the app cannot forge status, attempts, timestamps or a far-future next_attempt_at
-- (which would silently suppress a mail); the defaults set them.
GRANT INSERT (id, workspace_id, kind, to_address, subject, text_body) ON central.mail_outbox TO palisade_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON central.mail_outbox TO palisade_system;

-- No audit row trigger: it would copy every body, with its one-time link, into the immutable
-- audit trail. The business action that queues a mail (invitation, reset request) is audited by
-- its own module.

-- Whether any mail is due, so the dispatcher's poll need not open the bypass (each opening is
-- an audit record) when there is nothing to send. Returns one boolean and nothing else.
CREATE POLICY mail_outbox_owner_due ON central.mail_outbox FOR SELECT TO palisade_owner
  USING (pg_catalog.current_setting('palisade.mail_due_check', true) = 'on');
CREATE FUNCTION palisade.mail_due() RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  due boolean;
BEGIN
  PERFORM pg_catalog.set_config('palisade.mail_due_check', 'on', true);
  SELECT EXISTS (SELECT FROM central.mail_outbox m WHERE m.status = 'queued' AND m.next_attempt_at <= pg_catalog.now()) INTO due;
  PERFORM pg_catalog.set_config('palisade.mail_due_check', '', true);
  RETURN due;
END
$$;
GRANT EXECUTE ON FUNCTION palisade.mail_due() TO palisade_app;
