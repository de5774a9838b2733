-- Expenses (MOD-2, ACC-4): department heads and members' departments, expense claims with their
-- append-only history, and approval limits. Every table is tenant-scoped (RLS forced, keys and
-- foreign keys composite with workspace_id first) and audited.

-- ---------------------------------------------------------------------------------------------
-- Departments get a head, members a department. Both references are composite, so they cannot
-- point into another workspace. No ON DELETE SET NULL / CASCADE between tenant tables:
-- referential actions run as the table owner, outside the request's role and context, so the
-- audit trigger of the table they change is refused by RLS (and would not know the actor). What
-- a removal must undo is done by the BEFORE DELETE triggers at the end of this file instead, in
-- the deleting transaction, as its role, with its context.
ALTER TABLE tenant.departments ADD COLUMN head_user_id uuid;
ALTER TABLE tenant.departments ADD CONSTRAINT departments_head
  FOREIGN KEY (workspace_id, head_user_id) REFERENCES tenant.members (workspace_id, user_id);
CREATE INDEX departments_head ON tenant.departments (workspace_id, head_user_id);

ALTER TABLE tenant.members ADD COLUMN department_id uuid;
ALTER TABLE tenant.members ADD CONSTRAINT members_department
  FOREIGN KEY (workspace_id, department_id) REFERENCES tenant.departments (workspace_id, id);
CREATE INDEX members_department ON tenant.members (workspace_id, department_id);

-- ---------------------------------------------------------------------------------------------
-- Expense claims. The submitter and the decider reference the account (central.users), not the
-- membership: a claim is a financial record that outlives its submitter's membership, and a
-- composite key to tenant.members would make removing any member who ever submitted a claim fail.
-- The department is the submitter's at submission time.
CREATE TABLE tenant.expense_claims (
  workspace_id   uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  submitter_id   uuid NOT NULL REFERENCES central.users (id),
  department_id  uuid NOT NULL,
  amount         numeric(14, 2) NOT NULL CHECK (amount > 0),
  currency       char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  description    text NOT NULL CHECK (length(description) BETWEEN 1 AND 1000),
  -- Sensitive (ISO-7): shown only to holders of expenses.read_bank_details, redacted in the audit trail.
  payee_bank_ref text CHECK (length(payee_bank_ref) BETWEEN 1 AND 64),
  status         text NOT NULL DEFAULT 'submitted' CHECK (status IN ('submitted', 'approved', 'rejected')),
  decided_by     uuid REFERENCES central.users (id),
  decided_at     timestamptz,
  decision_note  text CHECK (length(decision_note) <= 2000),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, id),
  FOREIGN KEY (workspace_id, department_id) REFERENCES tenant.departments (workspace_id, id),
  CHECK ((status = 'submitted') = (decided_at IS NULL))
);
CREATE INDEX expense_claims_created ON tenant.expense_claims (workspace_id, created_at, id);
CREATE INDEX expense_claims_submitter ON tenant.expense_claims (workspace_id, submitter_id, created_at, id);
CREATE INDEX expense_claims_department ON tenant.expense_claims (workspace_id, department_id, status);
-- No DELETE: a claim is decided, never removed.
SELECT palisade_private.enable_tenant_rls('tenant.expense_claims', 'SELECT, INSERT, UPDATE');
SELECT palisade_private.enable_audit('tenant.expense_claims', redact => ARRAY['payee_bank_ref']);

-- The last layer under the API's rules (ACC-5): what was submitted never changes, a claim is
-- decided once (submitted → approved or rejected), nobody decides on their own claim, and the
-- decider and time are stamped from the transaction's context rather than taken from the caller.
-- Refusals are insufficient_privilege, like RLS's.
CREATE FUNCTION palisade_private.expense_claim_guard() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  actor uuid := palisade.current_actor();
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'submitted' OR NEW.decided_by IS NOT NULL OR NEW.decided_at IS NOT NULL OR NEW.decision_note IS NOT NULL THEN
      RAISE EXCEPTION 'an expense claim starts as submitted, undecided' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF (NEW.id, NEW.submitter_id, NEW.department_id, NEW.amount, NEW.currency, NEW.description, NEW.payee_bank_ref, NEW.created_at)
     IS DISTINCT FROM
     (OLD.id, OLD.submitter_id, OLD.department_id, OLD.amount, OLD.currency, OLD.description, OLD.payee_bank_ref, OLD.created_at) THEN
    RAISE EXCEPTION 'the submitted facts of expense claim % never change', OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    IF OLD.status <> 'submitted' OR NEW.status NOT IN ('approved', 'rejected') THEN
      RAISE EXCEPTION 'expense claim % is % and cannot become %', OLD.id, OLD.status, NEW.status USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF actor IS NOT NULL AND actor = OLD.submitter_id THEN
      RAISE EXCEPTION 'nobody decides on their own expense claim' USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.decided_by := actor;
    NEW.decided_at := pg_catalog.clock_timestamp();
  ELSIF (NEW.decided_by, NEW.decided_at, NEW.decision_note) IS DISTINCT FROM (OLD.decided_by, OLD.decided_at, OLD.decision_note) THEN
    RAISE EXCEPTION 'a decision on expense claim % is recorded once', OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  NEW.updated_at := pg_catalog.now();
  RETURN NEW;
END
$$;
CREATE TRIGGER guard BEFORE INSERT OR UPDATE ON tenant.expense_claims
  FOR EACH ROW EXECUTE FUNCTION palisade_private.expense_claim_guard();
ALTER TABLE tenant.expense_claims ENABLE ALWAYS TRIGGER guard;

-- ---------------------------------------------------------------------------------------------
-- The full history of each claim: every submission and decision with its actor, time, status
-- change and note. Written by a trigger on the claim, so no code path can change a claim's status
-- without its history row; append-only for every role.
CREATE TABLE tenant.expense_claim_events (
  workspace_id  uuid NOT NULL,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  claim_id      uuid NOT NULL,
  occurred_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor_user_id uuid,
  action        text NOT NULL CHECK (action IN ('submitted', 'approved', 'rejected')),
  from_status   text CHECK (from_status IN ('submitted', 'approved', 'rejected')),
  to_status     text NOT NULL CHECK (to_status IN ('submitted', 'approved', 'rejected')),
  note          text CHECK (length(note) <= 2000),
  PRIMARY KEY (workspace_id, id),
  FOREIGN KEY (workspace_id, claim_id) REFERENCES tenant.expense_claims (workspace_id, id)
);
CREATE INDEX expense_claim_events_claim ON tenant.expense_claim_events (workspace_id, claim_id, occurred_at);
SELECT palisade_private.enable_tenant_rls('tenant.expense_claim_events', 'SELECT, INSERT');
SELECT palisade_private.enable_append_only('tenant.expense_claim_events');
SELECT palisade_private.enable_audit('tenant.expense_claim_events');

CREATE FUNCTION palisade_private.expense_claim_history() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
    RETURN NULL;
  END IF;
  INSERT INTO tenant.expense_claim_events (workspace_id, claim_id, actor_user_id, action, from_status, to_status, note)
  VALUES (NEW.workspace_id, NEW.id, palisade.current_actor(), NEW.status,
          CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status,
          CASE WHEN TG_OP = 'UPDATE' THEN NEW.decision_note END);
  RETURN NULL;
END
$$;
CREATE TRIGGER history AFTER INSERT OR UPDATE OF status ON tenant.expense_claims
  FOR EACH ROW EXECUTE FUNCTION palisade_private.expense_claim_history();
ALTER TABLE tenant.expense_claims ENABLE ALWAYS TRIGGER history;

-- ---------------------------------------------------------------------------------------------
-- Approval limits, in cents, overriding the defaults in code (src/expenses/permissions.ts): per
-- role (a predefined or system role by key, a custom role by id) or per member.
CREATE TABLE tenant.expense_limits (
  workspace_id uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  role_key     text CHECK (role_key ~ '^[a-z][a-z0-9_]{0,62}$'),
  role_id      uuid,
  user_id      uuid,
  limit_cents  bigint NOT NULL CHECK (limit_cents >= 0),
  set_by       uuid,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, id),
  CHECK (num_nonnulls(role_key, role_id, user_id) = 1),
  FOREIGN KEY (workspace_id, role_id) REFERENCES tenant.roles (workspace_id, id),
  FOREIGN KEY (workspace_id, user_id) REFERENCES tenant.members (workspace_id, user_id)
);
CREATE UNIQUE INDEX expense_limits_role_key ON tenant.expense_limits (workspace_id, role_key) WHERE role_key IS NOT NULL;
CREATE UNIQUE INDEX expense_limits_role_id ON tenant.expense_limits (workspace_id, role_id) WHERE role_id IS NOT NULL;
CREATE UNIQUE INDEX expense_limits_user ON tenant.expense_limits (workspace_id, user_id) WHERE user_id IS NOT NULL;
SELECT palisade_private.enable_tenant_rls('tenant.expense_limits');
SELECT palisade_private.enable_audit('tenant.expense_limits');

-- ---------------------------------------------------------------------------------------------
-- Removals elsewhere that this module must follow, as the remover (see the top of this file): a
-- member who leaves stops heading departments and loses their limit override; a deleted custom
-- role loses its limit. Each change is audited like any other, with the remover as actor.
CREATE FUNCTION palisade_private.expenses_member_removed() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  UPDATE tenant.departments SET head_user_id = NULL WHERE workspace_id = OLD.workspace_id AND head_user_id = OLD.user_id;
  DELETE FROM tenant.expense_limits WHERE workspace_id = OLD.workspace_id AND user_id = OLD.user_id;
  RETURN OLD;
END
$$;
CREATE TRIGGER expenses_member_removed BEFORE DELETE ON tenant.members
  FOR EACH ROW EXECUTE FUNCTION palisade_private.expenses_member_removed();
ALTER TABLE tenant.members ENABLE ALWAYS TRIGGER expenses_member_removed;

CREATE FUNCTION palisade_private.expenses_role_removed() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  DELETE FROM tenant.expense_limits WHERE workspace_id = OLD.workspace_id AND role_id = OLD.id;
  RETURN OLD;
END
$$;
CREATE TRIGGER expenses_role_removed BEFORE DELETE ON tenant.roles
  FOR EACH ROW EXECUTE FUNCTION palisade_private.expenses_role_removed();
ALTER TABLE tenant.roles ENABLE ALWAYS TRIGGER expenses_role_removed;
