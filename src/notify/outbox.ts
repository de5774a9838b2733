import { randomUUID } from 'node:crypto';
import type { Sql } from '../db/types.ts';

/** What a module hands to {@link queueMail}. */
export interface MailToQueue {
  /** Exactly one plain address, `name@example.com`: no display name, list or line break. */
  to: string;
  /** One line, 1-200 characters. */
  subject: string;
  /** Plain text. May hold a one-time link: it is never logged and is cleared once sent. */
  text: string;
  /** What the mail is for, e.g. `invitation`, `password_reset` (lower-case, ≤ 40 characters). */
  kind: string;
  /**
   * The workspace the mail belongs to. Inside withWorkspace it defaults to the transaction's
   * workspace (RLS refuses any other); inside withSystem it defaults to none (password resets).
   */
  workspaceId?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KIND = /^[a-z][a-z0-9_.-]{0,39}$/;
// RFC 5321 dot-atom local part and a dotted LDH domain, ASCII only. Deliberately narrower than
// RFC 5322: no quoted local parts, comments, display names, IP literals or internationalised
// addresses. Anything that could make nodemailer see a second recipient or a header is refused.
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const ADDRESS = new RegExp(`^${ATOM}(?:\\.${ATOM})*@${LABEL}(?:\\.${LABEL})+$`);
// C0 controls, DEL and C1 controls: line breaks would start new headers (header injection).
const CONTROL = /\p{Cc}/u;
const MAX_BODY = 100_000;

/**
 * Returns `value` if it is exactly one plain e-mail address; throws otherwise. Arrays, comma or
 * semicolon lists, `Name <addr>` forms and CR/LF are refused here because nodemailer would
 * honour each of them: a list or array mails a reset link to every address in it (GitLab
 * CVE-2023-7028, next-auth CVE-2022-35924), a line break adds headers such as `Bcc:`.
 * Look-alike (homoglyph) addresses are the caller's problem: non-ASCII is refused outright.
 */
export function assertMailAddress(value: unknown, field = 'to'): string {
  if (typeof value !== 'string') {
    const got = Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value;
    throw new TypeError(`mail.${field} must be one e-mail address string, got ${got}`);
  }
  if (value.length > 254 || !ADDRESS.test(value) || (value.split('@')[0]?.length ?? 0) > 64) {
    throw new TypeError(`mail.${field} must be exactly one plain address like name@example.com, got ${JSON.stringify(value)}`);
  }
  return value;
}

function assertMail(mail: MailToQueue): void {
  assertMailAddress(mail.to);
  if (typeof mail.subject !== 'string' || mail.subject.length < 1 || mail.subject.length > 200 || CONTROL.test(mail.subject)) {
    throw new TypeError(`mail.subject must be one line of 1-200 characters, got ${JSON.stringify(mail.subject)}`);
  }
  if (typeof mail.text !== 'string' || mail.text.length > MAX_BODY) {
    throw new TypeError(`mail.text must be a string of at most ${MAX_BODY} characters`);
  }
  if (typeof mail.kind !== 'string' || !KIND.test(mail.kind)) {
    throw new TypeError(`mail.kind must match ${KIND.source}, got ${JSON.stringify(mail.kind)}`);
  }
  if (mail.workspaceId !== undefined && (typeof mail.workspaceId !== 'string' || !UUID.test(mail.workspaceId))) {
    throw new TypeError(`mail.workspaceId must be a UUID, got ${JSON.stringify(mail.workspaceId)}`);
  }
}

/**
 * Queues one e-mail in the caller's transaction and returns its id. Nothing is sent here: the
 * mail exists only if the transaction commits, and the dispatcher sends it after that (call
 * `dispatcher.kick()` once the transaction has committed). Inside withWorkspace the row must
 * belong to the transaction's workspace (RLS); mails to people outside any workspace context
 * (password reset) are queued inside withSystem.
 *
 * @throws TypeError when `to` is not exactly one plain address, or another field is malformed
 */
export async function queueMail(tx: Sql, mail: MailToQueue): Promise<string> {
  assertMail(mail);
  // The id is made here, not RETURNed: palisade_app has no SELECT on the outbox, and RETURNING
  // needs it.
  const id = randomUUID();
  await tx.query(
    `INSERT INTO central.mail_outbox (id, workspace_id, kind, to_address, subject, text_body)
     VALUES ($1, coalesce($2::uuid, (SELECT palisade.current_workspace())), $3, $4, $5, $6)`,
    [id, mail.workspaceId ?? null, mail.kind, mail.to, mail.subject, mail.text],
  );
  return id;
}
