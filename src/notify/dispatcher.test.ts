import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createWorkspace, freshDriver, openTestDatabase } from '../../test/db.ts';
import { addresses, startSmtpPeer, type SmtpPeer } from '../../test/smtp.ts';
import { Database } from '../db/database.ts';
import { migrateDriver } from '../db/open.ts';
import { coreModules } from '../modules.ts';
import { outboxCommand } from './cli.ts';
import { createMailDispatcher, describeSendError, smtpTransportOptions, type MailDispatcher, type MailDispatcherOptions } from './dispatcher.ts';
import { queueMail } from './outbox.ts';

// ---------------------------------------------------------------------------------------------
// A database only this file's dispatchers see: a dispatcher claims every queued mail, and on
// the server the run's database is shared with other test files (which queue mails of their own).

let db: Database;
let second: Database;
let closeDatabases: () => Promise<void>;
let peer: SmtpPeer;
let ws: string;
const logLines: string[] = [];
const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
const dispatchers: MailDispatcher[] = [];

beforeAll(async () => {
  if (inject('target').kind === 'embedded') {
    // Each test file already gets its own copy of the embedded database.
    const t = await openTestDatabase();
    db = t.db;
    second = t.db;
    closeDatabases = () => t.close();
  } else {
    const fresh = await freshDriver();
    const makeSecond = fresh.second;
    if (makeSecond === undefined) throw new Error('freshDriver gave no second driver on the server');
    await migrateDriver(fresh.driver, coreModules);
    db = await Database.open(fresh.driver);
    // A second "server": its own pool and its own process key.
    second = await Database.open(makeSecond());
    closeDatabases = () => fresh.drop();
  }
  ws = await createWorkspace(db);
  peer = await startSmtpPeer();
});
afterEach(async () => {
  for (const d of dispatchers.splice(0)) await d.stop();
  peer.reject = null;
  peer.dataDelayMs = 0;
});
afterAll(async () => {
  await peer.close();
  await closeDatabases();
});

function dispatcher(over: Partial<MailDispatcherOptions> = {}): MailDispatcher {
  const d = createMailDispatcher({ db, transport: { kind: 'smtp', url: peer.url }, log, pollMs: 50, retryBaseMs: 0, ...over });
  dispatchers.push(d);
  return d;
}

type Row = { workspace_id: string | null; kind: string; to_address: string; subject: string; text_body: string | null; status: string; attempts: number; last_error: string | null; sent_at: Date | null };

async function row(id: string): Promise<Row | undefined> {
  const { rows } = await db.withSystem('test: read outbox', (tx) =>
    tx.query<Row>(
      'SELECT workspace_id, kind, to_address, subject, text_body, status, attempts, last_error, sent_at FROM central.mail_outbox WHERE id = $1',
      [id],
    ),
  );
  return rows[0];
}

const receivedBy = (id: string) => peer.received.filter((r) => r.mail.messageId === `<${id}@palisade.localhost>`);
const invite = (to: string, text = 'Join: https://palisade.example/invite#tok') => ({ to, subject: 'You are invited', text, kind: 'invitation' });

// ---------------------------------------------------------------------------------------------

describe('sending queued mail after commit', () => {
  it('delivers a mail queued in a committed transaction: one recipient, exact subject and text', async () => {
    // A committed mail reaches exactly its one recipient, with no added recipient or header.
    const text = 'Hello Ada,\n\nJoin the workspace: https://palisade.example/invite#tok-1\n\n— Palisade';
    const id = await db.withWorkspace({ workspaceId: ws }, (tx) =>
      queueMail(tx, { to: 'ada@example.com', subject: 'You are invited to Acme', text, kind: 'invitation' }),
    );
    expect(await dispatcher().drain()).toEqual({ sent: 1, retrying: 0, failed: 0, announced: 0 });

    const [got, ...more] = receivedBy(id);
    expect(more).toEqual([]);
    expect(got?.rcptTo).toEqual(['ada@example.com']);
    expect(addresses(got?.mail.to)).toEqual(['ada@example.com']);
    expect(addresses(got?.mail.cc)).toEqual([]);
    expect(addresses(got?.mail.bcc)).toEqual([]);
    expect(got?.mail.subject).toBe('You are invited to Acme');
    // mailparser keeps the line break that ends the MIME body part.
    expect(got?.mail.text).toBe(`${text}\n`);
    expect(addresses(got?.mail.from)).toEqual(['no-reply@palisade.localhost']);
    expect(got?.mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(await row(id)).toMatchObject({ status: 'sent', attempts: 1, last_error: null, workspace_id: ws });
  });

  it('kick() after commit sends promptly, without waiting for a poll', async () => {
    const d = dispatcher({ pollMs: 3_600_000 });
    d.start(); // first pass finds nothing; the next poll is an hour away
    const id = await db.withWorkspace({ workspaceId: ws }, (tx) => queueMail(tx, invite('kick@example.com')));
    d.kick();
    await vi.waitFor(() => {
      expect(receivedBy(id)).toHaveLength(1);
    }, { timeout: 5_000, interval: 20 });
  });

  it('start() picks up mail that was queued while no dispatcher ran (e.g. before a crash)', async () => {
    const id = await db.withWorkspace({ workspaceId: ws }, (tx) => queueMail(tx, invite('left@example.com')));
    dispatcher().start();
    await vi.waitFor(async () => {
      expect((await row(id))?.status).toBe('sent');
    }, { timeout: 5_000, interval: 50 });
    expect(receivedBy(id)).toHaveLength(1);
  });

  it('stop() waits for the send in flight', async () => {
    peer.dataDelayMs = 300;
    const d = dispatcher();
    const id = await db.withWorkspace({ workspaceId: ws }, (tx) => queueMail(tx, invite('slow@example.com')));
    d.kick();
    await sleep(50);
    await d.stop();
    expect(receivedBy(id)).toHaveLength(1);
    expect((await row(id))?.status).toBe('sent');
  });
});

describe('AUTH-2 the reset mail path', () => {
  it('sends nothing and keeps no row when the transaction that queued the reset rolls back', async () => {
    // A reset whose transaction failed must not mail a link (it would point at no stored token).
    let id = '';
    await expect(
      db.withSystem('test: request reset', async (tx) => {
        id = await queueMail(tx, { to: 'rollback@example.com', subject: 'Reset your password', text: 'https://palisade.example/reset#r1', kind: 'password_reset' });
        throw new Error('the reset request failed');
      }),
    ).rejects.toThrow('the reset request failed');
    expect(await dispatcher().drain()).toEqual({ sent: 0, retrying: 0, failed: 0, announced: 0 });
    expect(await row(id)).toBeUndefined();
    expect(peer.received.filter((r) => r.rcptTo.includes('rollback@example.com'))).toEqual([]);
  });

  it('clears the body, with its one-time link, once the SMTP server accepted the mail; metadata stays', async () => {
    // A reset token must not linger in the database (or its backups) after it was delivered.
    const link = 'https://palisade.example/reset#k7Jx9-single-use';
    const id = await db.withSystem('test: request reset', (tx) =>
      queueMail(tx, { to: 'grace@example.com', subject: 'Reset your password', text: `Reset it here: ${link}`, kind: 'password_reset' }),
    );
    expect((await row(id))?.text_body).toBe(`Reset it here: ${link}`);
    await dispatcher().drain();

    expect(receivedBy(id)[0]?.mail.text).toContain(link);
    const stored = await row(id);
    expect(stored).toMatchObject({
      workspace_id: null,
      kind: 'password_reset',
      to_address: 'grace@example.com',
      subject: 'Reset your password',
      text_body: null,
      status: 'sent',
      attempts: 1,
    });
    expect(stored?.sent_at).toBeInstanceOf(Date);
  });

  it('never writes a body or a link to the log', async () => {
    // Logs are read by more people than mailboxes: a logged link is a leaked token.
    const secret = 'https://palisade.example/reset#log-leak-check';
    const body = `Your reset link: ${secret}`;
    const smtp = await db.withSystem('test: request reset', (tx) =>
      queueMail(tx, { to: 'smtp-log@example.com', subject: 'Reset your password', text: body, kind: 'password_reset' }),
    );
    peer.reject = `mailbox unavailable for ${secret}`;
    await dispatcher().drain(); // a failure whose server reply echoes the link
    expect((await row(smtp))?.last_error).toMatch(/^EENVELOPE 450 .*mailbox unavailable for \[link\]$/);
    peer.reject = null;
    await dispatcher().drain();
    expect((await row(smtp))?.status).toBe('sent');
    expect((await row(smtp))?.last_error).toBeNull();

    const joined = logLines.join('\n');
    expect(joined).toContain(`mail ${smtp} to smtp-log@example.com sent`);
    expect(joined).not.toContain('log-leak-check');
    expect(joined).not.toContain('Your reset link');
  });
});

describe('retries', () => {
  it('leaves the mail queued with attempts + 1 and the error when the server refuses, then delivers it once accepted', async () => {
    const id = await db.withWorkspace({ workspaceId: ws }, (tx) => queueMail(tx, invite('retry@example.com')));
    peer.reject = 'mailbox busy, try later';
    const d = dispatcher();

    expect(await d.drain()).toEqual({ sent: 0, retrying: 1, failed: 0, announced: 0 });
    const afterFailure = await row(id);
    expect(afterFailure).toMatchObject({ status: 'queued', attempts: 1, text_body: invite('').text, sent_at: null });
    expect(afterFailure?.last_error).toMatch(/^EENVELOPE 450 .*mailbox busy, try later/);
    expect(receivedBy(id)).toEqual([]);

    peer.reject = null;
    expect(await d.drain()).toEqual({ sent: 1, retrying: 0, failed: 0, announced: 0 });
    expect(receivedBy(id)).toHaveLength(1);
    expect(await row(id)).toMatchObject({ status: 'sent', attempts: 2, last_error: null, text_body: null });
  });

  it('waits for the backoff before the next attempt', async () => {
    const id = await db.withWorkspace({ workspaceId: ws }, (tx) => queueMail(tx, invite('backoff@example.com')));
    peer.reject = 'mailbox busy';
    const d = dispatcher({ retryBaseMs: 60_000 });
    expect((await d.drain()).retrying).toBe(1);
    peer.reject = null;
    expect(await d.drain()).toEqual({ sent: 0, retrying: 0, failed: 0, announced: 0 });
    expect(await row(id)).toMatchObject({ status: 'queued', attempts: 1 });
    // Make the retry due now, as if the minute had passed.
    await db.withSystem('test: skip backoff', (tx) => tx.query('UPDATE central.mail_outbox SET next_attempt_at = now() WHERE id = $1', [id]));
    expect((await d.drain()).sent).toBe(1);
  });

  it('marks the mail failed after maxAttempts and does not try again', async () => {
    const id = await db.withWorkspace({ workspaceId: ws }, (tx) => queueMail(tx, invite('never@example.com')));
    peer.reject = 'no such mailbox';
    const d = dispatcher({ maxAttempts: 2 });
    expect((await d.drain()).retrying).toBe(1);
    expect((await d.drain()).failed).toBe(1);
    peer.reject = null;
    expect((await d.drain()).sent).toBe(0);
    expect(await row(id)).toMatchObject({ status: 'failed', attempts: 2, sent_at: null });
    expect(receivedBy(id)).toEqual([]);
  });
});

describe('two dispatchers', () => {
  it('do not send a mail that the other one is sending (the claim lease)', async () => {
    // The claiming transaction commits before the SMTP send: the lease alone must keep the second
    // server from taking the same row while the first one is still talking to the SMTP server.
    const id = await db.withWorkspace({ workspaceId: ws }, (tx) => queueMail(tx, invite('lease@example.com')));
    peer.dataDelayMs = 500;
    const started = peer.dataStarted;
    const first = dispatcher().drain();
    await vi.waitFor(() => {
      expect(peer.dataStarted).toBeGreaterThan(started);
    }, { timeout: 5_000, interval: 10 });
    expect(await dispatcher({ db: second }).drain()).toEqual({ sent: 0, retrying: 0, failed: 0, announced: 0 });
    expect(await first).toEqual({ sent: 1, retrying: 0, failed: 0, announced: 0 });
    expect(receivedBy(id)).toHaveLength(1);
  });

  it('deliver each mail exactly once when they drain concurrently', async () => {
    // Two servers share one outbox: FOR UPDATE SKIP LOCKED and the claim lease must keep them from
    // sending the same mail twice (a reset link mailed twice is two live copies of a token).
    const ids = await db.withWorkspace({ workspaceId: ws }, async (tx) => {
      const out: string[] = [];
      for (let i = 0; i < 24; i += 1) out.push(await queueMail(tx, invite(`race${i}@example.com`)));
      return out;
    });
    peer.dataDelayMs = 20; // sends take a while, so the two overlap
    const a = dispatcher({ batchSize: 2 });
    const b = dispatcher({ db: second, batchSize: 2 });
    const results = await Promise.all([a.drain(), b.drain(), a.drain(), b.drain()]);
    expect(results.reduce((n, r) => n + r.sent, 0)).toBe(24);

    for (const id of ids) expect(receivedBy(id), id).toHaveLength(1);
    const statuses = await db.withSystem('test: read outbox', (tx) =>
      tx.query<{ status: string; attempts: number; n: number }>(
        `SELECT status, attempts, count(*)::integer AS n FROM central.mail_outbox WHERE id = ANY ($1::uuid[]) GROUP BY 1, 2`,
        [`{${ids.join(',')}}`],
      ),
    );
    expect(statuses.rows).toEqual([{ status: 'sent', attempts: 1, n: 24 }]);
  });
});

describe('outbox mode (no SMTP_URL)', () => {
  it('logs each new mail once, without its body, and keeps it queued for `palisade outbox`', async () => {
    // Offline, the link is read from the CLI, never from the log, and printing it cannot drive the operator's terminal.
    const body = 'Reset here: https://palisade.example/reset#outbox-1\n\x1b[2Jcleared?';
    const id = await db.withSystem('test: request reset', (tx) =>
      queueMail(tx, { to: 'offline@example.com', subject: 'Reset your password', text: body, kind: 'password_reset' }),
    );
    const lines: string[] = [];
    const d = dispatcher({ transport: { kind: 'outbox' }, log: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }) });
    expect((await d.drain()).announced).toBeGreaterThanOrEqual(1);
    expect(await d.drain()).toEqual({ sent: 0, retrying: 0, failed: 0, announced: 0 });

    const mine = lines.map((l) => JSON.parse(l) as { msg: string; mailId?: string }).filter((l) => l.mailId === id);
    expect(mine.map((l) => l.msg)).toEqual([`mail ${id} to offline@example.com queued; no SMTP_URL: read it with \`npm run palisade -- outbox\``]);
    expect(lines.join('\n')).not.toContain('outbox-1');
    expect(await row(id)).toMatchObject({ status: 'queued', attempts: 0, text_body: body });

    const printed = await outboxCommand(db);
    expect(printed).toContain(`mail ${id} (queued)`);
    expect(printed).toContain('  to:        offline@example.com');
    expect(printed).toContain('  subject:   Reset your password');
    expect(printed).toMatch(new RegExp(`mail ${id} \\(queued\\)\\n(?:.*\\n)*?  created:   \\d{4}-\\d\\d-\\d\\dT`));
    expect(printed).toContain('  | Reset here: https://palisade.example/reset#outbox-1');
    // An escape sequence in a body cannot clear or rewrite the operator's terminal.
    expect(printed).toContain('  | \\u{1b}[2Jcleared?');
    expect(printed).not.toContain('\x1b');
    // Reading marks nothing.
    expect(await outboxCommand(db)).toBe(printed);
    expect((await row(id))?.status).toBe('queued');
  });

  it('lists sent mails without body only with --all', async () => {
    const id = await db.withWorkspace({ workspaceId: ws }, (tx) => queueMail(tx, invite('listed@example.com')));
    await dispatcher().drain();
    expect(await outboxCommand(db)).not.toContain(id);
    const all = await outboxCommand(db, { all: true });
    expect(all).toMatch(new RegExp(`mail ${id} \\(sent, 1 attempt\\(s\\)\\)[^]*?\\(body removed after sending\\)`));
  });
});

describe('SMTP URL', () => {
  it('accepts smtps://, smtp:// (STARTTLS required off loopback) and ignoreTLS on loopback only', () => {
    // Mail carrying one-time links leaves the machine only over TLS.
    expect(smtpTransportOptions('smtps://u%40x:p%3Ass@smtp.example.com')).toMatchObject({
      host: 'smtp.example.com', port: 465, secure: true, requireTLS: false, ignoreTLS: false, auth: { user: 'u@x', pass: 'p:ss' },
    });
    expect(smtpTransportOptions('smtp://smtp.example.com')).toMatchObject({ port: 587, secure: false, requireTLS: true, ignoreTLS: false });
    expect(smtpTransportOptions('smtp://127.0.0.1:2525/?ignoreTLS=true')).toMatchObject({ port: 2525, requireTLS: false, ignoreTLS: true });
    expect(smtpTransportOptions('smtp://[::1]:25')).toMatchObject({ host: '::1', requireTLS: false });
  });

  it('refuses other schemes, paths, query options and ignoreTLS off loopback, without echoing the password', () => {
    // A misconfigured SMTP_URL stops the start without printing the SMTP password.
    const bad = [
      'http://u:hunter2@smtp.example.com',
      'smtp://u:hunter2@smtp.example.com/relay',
      'smtp://u:hunter2@smtp.example.com/?ignoreTLS=true',
      'smtps://u:hunter2@127.0.0.1/?ignoreTLS=true',
      'smtp://u:hunter2@127.0.0.1/?tls.rejectUnauthorized=false',
      'not a url hunter2',
    ];
    for (const url of bad) {
      expect(() => smtpTransportOptions(url), url).toThrow(TypeError);
      try {
        smtpTransportOptions(url);
      } catch (error) {
        expect(String(error)).not.toContain('hunter2');
      }
    }
  });

  it('keeps credentials and links out of a stored send error', () => {
    // last_error is stored and logged, so it must hold neither the SMTP password nor a link a server echoed.
    const error = Object.assign(new Error('550 rejected for https://palisade.example/reset#tok, login hunter2\r\nbye'), { code: 'EENVELOPE', responseCode: 550 });
    expect(describeSendError(error, ['hunter2'])).toBe('EENVELOPE 550 550 rejected for [link] login [redacted] bye');
  });
});
