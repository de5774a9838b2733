import { createTransport } from 'nodemailer';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
import type { Database } from '../db/database.ts';
import type { Sql } from '../db/types.ts';
import { assertMailAddress } from './outbox.ts';

/** Where mail goes: an SMTP server, or nowhere (kept in the outbox for the CLI). */
export type MailTransportOptions = { kind: 'smtp'; url: string } | { kind: 'outbox' };

/** The subset of a pino / Fastify logger the dispatcher uses. Bodies and links are never passed. */
export interface MailLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface MailDispatcherOptions {
  db: Database;
  transport: MailTransportOptions;
  log: MailLogger;
  /** How often start() looks for queued mail (left by a crash, or due for a retry). @default 60000 */
  pollMs?: number;
  /** Envelope and header sender address. @default 'no-reply@palisade.localhost' */
  from?: string;
  /** Display name of the sender. @default 'Palisade' */
  fromName?: string;
  /** A mail whose SMTP send failed this many times is marked failed and not retried. @default 8 */
  maxAttempts?: number;
  /** Delay before the first retry; doubled after each further failure. @default 60000 */
  retryBaseMs?: number;
  /** Upper bound of the retry delay. @default 3600000 */
  retryMaxMs?: number;
  /**
   * Outbox mode only: also hand each new mail, body included, to this printer (the development
   * server prints it on the operator's terminal, never into the structured log). @default none
   */
  printOutboxMail?: (mail: { id: string; to: string; subject: string; text: string }) => void;
  /** Mails claimed per database transaction. @default 10 */
  batchSize?: number;
  /** One SMTP send is aborted after this long (and retried later). @default 60000 */
  sendTimeoutMs?: number;
}

/** What one pass did; drain() returns it. */
export interface DrainResult {
  /** Accepted by the SMTP server (body cleared). */
  sent: number;
  /** Failed and left queued for a later attempt. */
  retrying: number;
  /** Failed for the last allowed time. */
  failed: number;
  /** Outbox mode: announced in the log, waiting to be read with the CLI. */
  announced: number;
}

export interface MailDispatcher {
  /** Call after a transaction that queued mail has committed: sends it promptly, in the background. */
  kick(): void;
  /** Sends what is queued now, then looks again every `pollMs`. */
  start(): void;
  /** Stops polling and waits for the sends in flight (at most the claimed batch). */
  stop(): Promise<void>;
  /** Sends everything queued now and resolves when done; for tests and the CLI. */
  drain(): Promise<DrainResult>;
}

const OUTBOX_HINT = 'no SMTP_URL: read it with `npm run palisade -- outbox`';

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(host);

/**
 * nodemailer options for an SMTP URL, refusing anything but the forms below. The password is
 * never echoed in an error.
 *
 * - `smtps://user:password@smtp.example.com[:465]`: implicit TLS.
 * - `smtp://user:password@smtp.example.com[:587]`: STARTTLS, required (`requireTLS`) for every
 *   host but loopback, so a network attacker cannot strip it and read the links or the password.
 * - `smtp://127.0.0.1:2525/?ignoreTLS=true`: plain text, never even trying STARTTLS. Allowed for a
 *   loopback host only (127.0.0.0/8, [::1], localhost), for test servers and a local relay.
 *
 * User and password are percent-decoded. Certificates are always verified.
 * @throws TypeError for another scheme, a path, or any other query option
 */
export function smtpTransportOptions(url: string): SMTPTransportOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError('SMTP_URL must be a URL like smtps://user:password@smtp.example.com:465 (the value is not shown: it may hold a password)');
  }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') {
    throw new TypeError(`SMTP_URL must start with smtp:// or smtps://, got ${JSON.stringify(`${u.protocol}//`)}`);
  }
  if (u.hostname === '') throw new TypeError('SMTP_URL has no host');
  if ((u.pathname !== '' && u.pathname !== '/') || u.hash !== '') {
    throw new TypeError('SMTP_URL must have no path or fragment: smtp[s]://[user:password@]host[:port][/?ignoreTLS=true]');
  }
  let ignoreTLS = false;
  for (const [key, value] of u.searchParams) {
    if (key !== 'ignoreTLS' || (value !== 'true' && value !== 'false')) {
      throw new TypeError(`SMTP_URL: the only query option is ignoreTLS=true|false, got ${JSON.stringify(key)}`);
    }
    ignoreTLS = value === 'true';
  }
  const secure = u.protocol === 'smtps:';
  const loopback = isLoopback(u.hostname);
  if (ignoreTLS && (secure || !loopback)) {
    throw new TypeError('SMTP_URL: ignoreTLS=true is allowed only with smtp:// to a loopback host (127.0.0.1, [::1], localhost)');
  }
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? (secure ? 465 : 587) : Number(u.port),
    secure,
    ignoreTLS,
    requireTLS: !secure && !loopback,
    ...(u.username === '' ? {} : { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } }),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    // nodemailer's own logger would print whole messages, one-time links included.
    logger: false,
    debug: false,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

/**
 * The transport for a configured SMTP_URL (validated now, so a bad URL stops the start), or the
 * outbox when it is unset or empty.
 */
export function mailTransportFor(smtpUrl: string | undefined): MailTransportOptions {
  if (smtpUrl === undefined || smtpUrl === '') return { kind: 'outbox' };
  smtpTransportOptions(smtpUrl);
  return { kind: 'smtp', url: smtpUrl };
}

/**
 * What may be stored in last_error and logged: the error code, SMTP reply code and message, with
 * the SMTP credentials and anything URL-like (a server may echo part of a message, and with it a
 * one-time link) removed, on one line, at most 500 characters.
 */
export function describeSendError(error: unknown, secrets: readonly string[] = []): string {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; responseCode?: unknown };
  const parts = [
    typeof e.code === 'string' ? e.code : null,
    typeof e.responseCode === 'number' ? String(e.responseCode) : null,
    error instanceof Error ? error.message : String(error),
  ];
  let text = parts.filter((p) => p !== null).join(' ');
  for (const secret of secrets) if (secret.length >= 3) text = text.replaceAll(secret, '[redacted]');
  text = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '[link]').replace(/\p{Cc}+/gu, ' ').trim();
  return text.length > 500 ? `${text.slice(0, 499)}…` : text;
}

// A type alias, not an interface: query<R>() wants an indexable row type.
type ClaimedMail = {
  id: string;
  kind: string;
  to_address: string;
  subject: string;
  text_body: string;
  attempts: number;
};

/** A PostgreSQL uuid[] literal; the ids come from the database, so they are UUIDs. */
const uuidArray = (ids: readonly string[]) => `{${ids.join(',')}}`;

/**
 * Claims up to `limit` due mails. FOR UPDATE SKIP LOCKED makes concurrent dispatchers (several
 * servers) take disjoint rows; the lease written in the same statement keeps the others away
 * while the SMTP send runs outside any transaction (an open transaction would pin a connection,
 * and on the embedded database every other request, for the length of a network call).
 */
async function claim(tx: Sql, options: { limit: number; leaseMs: number; skip: readonly string[] }): Promise<ClaimedMail[]> {
  const { rows } = await tx.query<ClaimedMail>(
    `WITH due AS (
       SELECT id FROM central.mail_outbox
        WHERE status = 'queued' AND next_attempt_at <= now() AND NOT (id = ANY ($3::uuid[]))
        ORDER BY next_attempt_at, created_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED)
     UPDATE central.mail_outbox m
        SET attempts = m.attempts + 1,
            next_attempt_at = now() + $2::integer * interval '1 millisecond'
       FROM due WHERE m.id = due.id
     RETURNING m.id, m.kind, m.to_address, m.subject, m.text_body, m.attempts`,
    [options.limit, options.leaseMs, uuidArray(options.skip)],
  );
  return rows;
}

/** Outbox mode: takes due mails out of the dispatchers' queue for good; they wait for the CLI. */
interface Announced {
  id: string;
  kind: string;
  to_address: string;
  subject: string;
  text_body: string | null;
}

async function announce(tx: Sql, options: { limit: number }): Promise<Announced[]> {
  const { rows } = await tx.query<Announced>(
    `WITH due AS (
       SELECT id FROM central.mail_outbox
        WHERE status = 'queued' AND next_attempt_at <= now()
        ORDER BY next_attempt_at, created_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED)
     UPDATE central.mail_outbox m SET next_attempt_at = 'infinity'
       FROM due WHERE m.id = due.id
     RETURNING m.id, m.kind, m.to_address, m.subject, m.text_body`,
    [options.limit],
  );
  return rows;
}

/**
 * Sends queued mail after commit (STYLE 15). Mails are claimed in withSystem transactions with
 * FOR UPDATE SKIP LOCKED and a lease, sent outside any transaction, and then marked: sent (the
 * body cleared, so one-time links do not linger) or, on failure, left queued with attempts + 1,
 * the error (no secrets) and an exponential backoff, until `maxAttempts` marks it failed.
 *
 * Delivery is at least once: a crash between the SMTP server's acceptance and the status update
 * sends the mail again once the lease expires. The Message-ID is derived from the outbox id, so
 * such a repeat carries the same Message-ID.
 *
 * In outbox mode nothing is sent: each newly committed mail is logged once (id and address, never
 * the body) with a pointer to `npm run palisade -- outbox`, and stays queued there with its body.
 * A mail announced that way is not sent later if SMTP_URL is configured afterwards.
 *
 * Every pass opens withSystem at least once, so each poll records one `system.bypass` audit event.
 */
export function createMailDispatcher(options: MailDispatcherOptions): MailDispatcher {
  const { db, log } = options;
  const pollMs = options.pollMs ?? 60_000;
  const from = assertMailAddress(options.from ?? 'no-reply@palisade.localhost', 'from');
  const fromName = options.fromName ?? 'Palisade';
  const maxAttempts = options.maxAttempts ?? 8;
  const retryBaseMs = options.retryBaseMs ?? 60_000;
  const retryMaxMs = options.retryMaxMs ?? 3_600_000;
  const batchSize = options.batchSize ?? 10;
  const sendTimeoutMs = options.sendTimeoutMs ?? 60_000;
  if (/\p{Cc}|["\\]/u.test(fromName) || fromName.length > 100) {
    throw new TypeError(`fromName must be one line without quotes or backslashes, got ${JSON.stringify(fromName)}`);
  }
  for (const [name, value, min] of [
    ['pollMs', pollMs, 10], ['maxAttempts', maxAttempts, 1], ['retryBaseMs', retryBaseMs, 0],
    ['retryMaxMs', retryMaxMs, 0], ['batchSize', batchSize, 1], ['sendTimeoutMs', sendTimeoutMs, 100],
  ] as const) {
    if (!Number.isInteger(value) || value < min) throw new TypeError(`${name} must be an integer ≥ ${min}, got ${value}`);
  }
  // The lease must outlast the whole batch: the last claimed mail waits for the ones before it.
  const leaseMs = batchSize * sendTimeoutMs + 60_000;
  const fromDomain = from.slice(from.indexOf('@') + 1);

  const smtp = options.transport.kind === 'smtp' ? smtpTransportOptions(options.transport.url) : null;
  const secrets = smtp?.auth === undefined ? [] : [smtp.auth.pass ?? '', smtp.auth.user ?? ''];
  const transporter = smtp === null ? null : createTransport(smtp);

  async function deliver(mail: ClaimedMail, result: DrainResult, mailer: NonNullable<typeof transporter>): Promise<void> {
    const meta = { mailId: mail.id, kind: mail.kind, to: mail.to_address };
    let error: unknown = null;
    try {
      const info = await mailer.sendMail({
        from: { name: fromName, address: from },
        // The object form: nodemailer does not parse it, so it cannot turn into a list.
        to: { name: '', address: mail.to_address },
        envelope: { from, to: [mail.to_address] },
        subject: mail.subject,
        text: mail.text_body,
        messageId: `<${mail.id}@${fromDomain}>`,
        // RFC 3834: automatic replies must not answer it.
        headers: { 'Auto-Submitted': 'auto-generated' },
        maxRecipients: 1,
        disableFileAccess: true,
        disableUrlAccess: true,
        signal: AbortSignal.timeout(sendTimeoutMs),
      });
      // nodemailer throws when every recipient is refused; this only guards that assumption.
      if (info.accepted.length === 0) error = new Error(`the server accepted no recipient: ${info.response}`);
    } catch (e) {
      error = e;
    }
    if (error === null) {
      await db.withSystem('notify: mark mail sent', (tx) =>
        tx.query(
          `UPDATE central.mail_outbox SET status = 'sent', sent_at = now(), text_body = NULL, last_error = NULL
            WHERE id = $1 AND status = 'queued'`,
          [mail.id],
        ),
      );
      result.sent += 1;
      log.info(meta, `mail ${mail.id} to ${mail.to_address} sent`);
      return;
    }
    const reason = describeSendError(error, secrets);
    const delayMs = Math.min(retryMaxMs, retryBaseMs * 2 ** (mail.attempts - 1));
    const final = mail.attempts >= maxAttempts;
    await db.withSystem('notify: mark mail attempt failed', (tx) =>
      tx.query(
        `UPDATE central.mail_outbox
            SET status = $3, last_error = $2, next_attempt_at = now() + $4::integer * interval '1 millisecond'
          WHERE id = $1 AND status = 'queued'`,
        [mail.id, reason, final ? 'failed' : 'queued', delayMs],
      ),
    );
    if (final) {
      result.failed += 1;
      log.error({ ...meta, attempts: mail.attempts, error: reason }, `mail ${mail.id} to ${mail.to_address} failed after ${mail.attempts} attempts; not retried`);
    } else {
      result.retrying += 1;
      log.warn({ ...meta, attempts: mail.attempts, error: reason }, `mail ${mail.id} to ${mail.to_address}: attempt ${mail.attempts} failed; retrying in ${Math.ceil(delayMs / 1000)} s`);
    }
  }

  /** One pass over what is due now. Mails claimed once in a pass are not claimed again in it. */
  async function pass(): Promise<DrainResult> {
    const result: DrainResult = { sent: 0, retrying: 0, failed: 0, announced: 0 };
    // Asked without the bypass: an idle poll writes no audit record.
    const due = await db.query<{ due: boolean }>('SELECT palisade.mail_due() AS due');
    if (due.rows[0]?.due !== true) return result;
    if (transporter === null) {
      for (;;) {
        const rows = await db.withSystem('notify: announce outbox mail', (tx) => announce(tx, { limit: batchSize }));
        for (const r of rows) {
          result.announced += 1;
          log.info({ mailId: r.id, kind: r.kind, to: r.to_address }, `mail ${r.id} to ${r.to_address} queued; ${OUTBOX_HINT}`);
          options.printOutboxMail?.({ id: r.id, to: r.to_address, subject: r.subject, text: r.text_body ?? '' });
        }
        if (rows.length < batchSize) return result;
      }
    }
    const seen: string[] = [];
    for (;;) {
      const rows = await db.withSystem('notify: claim queued mail', (tx) => claim(tx, { limit: batchSize, leaseMs, skip: seen }));
      for (const mail of rows) {
        seen.push(mail.id);
        await deliver(mail, result, transporter);
      }
      if (rows.length < batchSize || stopped) return result;
    }
  }

  // Passes run one after another; kicks that arrive while one is waiting to start share it.
  let tail: Promise<unknown> = Promise.resolve();
  let kickPending = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const enqueue = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn);
    tail = run.catch(() => undefined);
    return run;
  };

  const dispatcher: MailDispatcher = {
    kick() {
      if (stopped || kickPending) return;
      kickPending = true;
      enqueue(async () => {
        kickPending = false;
        return pass();
      }).catch((error: unknown) => {
        log.error({ error: describeSendError(error, secrets) }, 'mail dispatch failed; retrying at the next poll');
      });
    },
    start() {
      if (stopped || timer !== undefined) return;
      const tick = () => {
        dispatcher.kick();
        timer = setTimeout(tick, pollMs);
        timer.unref();
      };
      tick();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await tail;
      transporter?.close();
    },
    async drain() {
      if (stopped) throw new Error('the mail dispatcher is stopped');
      return enqueue(pass);
    },
  };
  return dispatcher;
}
