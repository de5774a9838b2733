import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace, openTestDatabase, sqlState, uniqueSlug, type TestDatabase } from '../../test/db.ts';
import { queueMail } from './outbox.ts';

let t: TestDatabase;
let wsA: string;
let wsB: string;
// This file shares the server database with others: its mails go to its own domain or its own
// workspaces, and are removed at the end.
const domain = `${uniqueSlug('outbox')}.example.com`;
const to = `ada@${domain}`;

beforeAll(async () => {
  t = await openTestDatabase();
  wsA = await createWorkspace(t.db, 'Workspace A');
  wsB = await createWorkspace(t.db, 'Workspace B');
});
afterAll(async () => {
  await t.db.withSystem('test: remove test mails', (tx) =>
    tx.query('DELETE FROM central.mail_outbox WHERE to_address LIKE $1 OR workspace_id IN ($2, $3)', [`%@${domain}`, wsA, wsB]),
  );
  await t.close();
});

type Stored = { workspace_id: string | null; kind: string; to_address: string; subject: string; text_body: string | null; status: string; attempts: number };

async function stored(id: string): Promise<Stored | undefined> {
  const { rows } = await t.db.withSystem('test: read outbox', (tx) =>
    tx.query<Stored>(
      'SELECT workspace_id, kind, to_address, subject, text_body, status, attempts FROM central.mail_outbox WHERE id = $1',
      [id],
    ),
  );
  return rows[0];
}

async function countTo(address: string): Promise<number> {
  const { rows } = await t.db.withSystem('test: count outbox', (tx) =>
    tx.query<{ n: number }>('SELECT count(*)::integer AS n FROM central.mail_outbox WHERE to_address = $1', [address]),
  );
  return rows[0]?.n ?? -1;
}

const mail = (over: Partial<Parameters<typeof queueMail>[1]> = {}) => ({
  to,
  subject: 'You are invited',
  text: 'Join us: https://palisade.example/invite#token-123',
  kind: 'invitation',
  ...over,
});

describe('queueing mail in the business transaction', () => {
  it('inserts the mail in the caller’s transaction, tagged with its workspace, and returns the id', async () => {
    const id = await t.db.withWorkspace({ workspaceId: wsA }, (tx) => queueMail(tx, mail()));
    expect(await stored(id)).toEqual({
      workspace_id: wsA,
      kind: 'invitation',
      to_address: to,
      subject: 'You are invited',
      text_body: 'Join us: https://palisade.example/invite#token-123',
      status: 'queued',
      attempts: 0,
    });
  });

  it('refuses a subject with a line break, a malformed kind and a non-UUID workspace', async () => {
    // A line break in the subject would start a new header (Bcc:) in the sent mail.
    const cases = [mail({ subject: 'Hi\r\nBcc: eve@evil.example' }), mail({ kind: 'Invitation!' }), mail({ workspaceId: 'ws-1' })];
    for (const m of cases) {
      await expect(t.db.withWorkspace({ workspaceId: wsA }, (tx) => queueMail(tx, m))).rejects.toThrow(TypeError);
    }
  });
});

describe('AUTH-2 a reset mail goes to exactly one plain address', () => {
  const refused: { name: string; to: unknown }[] = [
    { name: 'comma list', to: `a@${domain},b@evil.example` },
    { name: 'semicolon list', to: `a@${domain};b@evil.example` },
    { name: 'space-separated list', to: `a@${domain} b@evil.example` },
    { name: 'array (untyped input)', to: [`a@${domain}`] },
    { name: 'array of two (untyped input)', to: [`a@${domain}`, 'b@evil.example'] },
    { name: 'CR/LF header injection', to: `a@${domain}\r\nBcc: c@evil.example` },
    { name: 'LF header injection', to: `a@${domain}\nBcc: c@evil.example` },
    { name: 'display name with angle brackets', to: `Ada <a@${domain}>` },
    { name: 'angle brackets only', to: `<a@${domain}>` },
    { name: 'quoted local part hiding a second address', to: `"b@evil.example"@${domain}` },
    { name: 'group syntax', to: `friends: a@${domain}, b@evil.example;` },
    { name: 'non-ASCII (homoglyph) local part', to: `\u0430@${domain}` },
    { name: 'no domain dot', to: 'a@localhost' },
    { name: 'empty string', to: '' },
    { name: 'object', to: { address: `a@${domain}` } },
    { name: 'null', to: null },
  ];

  it.each(refused)('refuses $name before anything is written', async ({ to: bad }) => {
    // A reset link must reach only the account's own address: a list, an array or an injected header would mail it to an attacker too (GitLab CVE-2023-7028).
    const before = await countTo(`a@${domain}`);
    await expect(
      t.db.withSystem('test: queue reset', (tx) => queueMail(tx, { ...mail({ kind: 'password_reset' }), to: bad as string })),
    ).rejects.toThrow(TypeError);
    expect(await countTo(`a@${domain}`)).toBe(before);
  });

  it('queues a reset mail without a workspace inside withSystem', async () => {
    // A reset mail, which belongs to a person and not to a workspace, can only be queued by the key-holding path.
    const id = await t.db.withSystem('test: queue reset', (tx) =>
      queueMail(tx, mail({ kind: 'password_reset', subject: 'Reset your password', text: 'https://palisade.example/reset#t' })),
    );
    expect(await stored(id)).toMatchObject({ workspace_id: null, kind: 'password_reset', status: 'queued' });
  });

  it('leaves no row when the transaction that queued the mail rolls back', async () => {
    // A rolled-back request (the reset failed, the invitation was refused) must not mail anything.
    const address = `rollback@${domain}`;
    let id = '';
    await expect(
      t.db.withSystem('test: queue reset', async (tx) => {
        id = await queueMail(tx, mail({ to: address, kind: 'password_reset' }));
        throw new Error('the business action failed');
      }),
    ).rejects.toThrow('the business action failed');
    expect(id).not.toBe('');
    expect(await stored(id)).toBeUndefined();
    expect(await countTo(address)).toBe(0);
  });
});

// The outbox holds other people's one-time links: the app may only add mail for its own
// workspace and may never read, change or remove it; only the key-holding path may.
describe('outbox access matrix (role × operation)', () => {
  let existing: string;
  beforeAll(async () => {
    existing = await t.db.withWorkspace({ workspaceId: wsA }, (tx) => queueMail(tx, mail({ to: `matrix@${domain}` })));
  });

  const insert = (columns: string, values: string) =>
    `INSERT INTO central.mail_outbox (id, kind, to_address, subject, text_body${columns}) VALUES ($1, 'invitation', 'x@example.com', 's', 'b'${values})`;
  const inA = (text: string, params: () => unknown[]) => () => t.db.withWorkspace({ workspaceId: wsA }, (tx) => tx.query(text, params()));

  // Both refusals are SQLSTATE 42501, for two different reasons, told apart by the message:
  // - privilege: palisade_app has no SELECT, UPDATE, DELETE or TRUNCATE grant, and INSERT only on
  //   the columns queueMail writes. PostgreSQL checks privileges before it consults RLS, so a
  //   SELECT is an error ("permission denied"), never an empty result.
  // - policy: the INSERT privilege is there, and the row fails the WITH CHECK of
  //   mail_outbox_app_insert (workspace_id must be the transaction's workspace).
  const appCases: { who: string; op: string; why: 'privilege' | 'policy'; run: () => Promise<unknown> }[] = [
    { who: 'app in workspace A', op: 'SELECT', why: 'privilege', run: inA('SELECT id FROM central.mail_outbox', () => []) },
    { who: 'app in workspace A', op: 'SELECT its own mail by id', why: 'privilege', run: inA('SELECT text_body FROM central.mail_outbox WHERE id = $1', () => [existing]) },
    { who: 'app without workspace', op: 'SELECT', why: 'privilege', run: () => t.db.query('SELECT id FROM central.mail_outbox') },
    { who: 'app in workspace A', op: 'INSERT for workspace B', why: 'policy', run: inA(insert(', workspace_id', ', $2'), () => [randomUUID(), wsB]) },
    { who: 'app in workspace A', op: 'INSERT without workspace', why: 'policy', run: inA(insert(', workspace_id', ', NULL'), () => [randomUUID()]) },
    { who: 'app without workspace', op: 'INSERT for workspace A', why: 'policy', run: () => t.db.query(insert(', workspace_id', ', $2'), [randomUUID(), wsA]) },
    { who: 'app in workspace A', op: 'INSERT … RETURNING (needs SELECT)', why: 'privilege', run: inA(`${insert(', workspace_id', ', $2')} RETURNING id`, () => [randomUUID(), wsA]) },
    { who: 'app in workspace A', op: 'INSERT as already failed (column grant)', why: 'privilege', run: inA(insert(', workspace_id, status', ", $2, 'failed'"), () => [randomUUID(), wsA]) },
    { who: 'app in workspace A', op: 'INSERT never due (column grant)', why: 'privilege', run: inA(insert(', workspace_id, next_attempt_at', ", $2, 'infinity'"), () => [randomUUID(), wsA]) },
    { who: 'app in workspace A', op: 'UPDATE', why: 'privilege', run: inA("UPDATE central.mail_outbox SET to_address = 'eve@evil.example' WHERE id = $1", () => [existing]) },
    { who: 'app in workspace A', op: 'DELETE', why: 'privilege', run: inA('DELETE FROM central.mail_outbox WHERE id = $1', () => [existing]) },
    { who: 'app in workspace A', op: 'TRUNCATE', why: 'privilege', run: inA('TRUNCATE central.mail_outbox', () => []) },
  ];
  const messages = { privilege: /permission denied/, policy: /violates row-level security policy/ };

  it.each(appCases)('$who: $op → 42501 ($why)', async ({ run, why }) => {
    // palisade_app can neither read the outbox nor queue mail outside its workspace, and a refused statement changes nothing.
    const error = await run().then(
      () => null,
      (e: unknown) => e as { code?: unknown; message?: unknown },
    );
    expect(error?.code).toBe('42501');
    expect(String(error?.message)).toMatch(messages[why]);
    expect(await stored(existing)).toMatchObject({ to_address: `matrix@${domain}`, status: 'queued' });
  });

  it('app in workspace A: INSERT for its own workspace → allowed (queueMail’s statement)', async () => {
    // The one write the app keeps: queueing mail for the workspace of its own transaction.
    const id = randomUUID();
    await inA(insert(', workspace_id', ', $2'), () => [id, wsA])();
    expect(await stored(id)).toMatchObject({ workspace_id: wsA, status: 'queued', attempts: 0 });
  });

  it('palisade_system without the process key: SELECT → 0 rows, INSERT → 42501, UPDATE/DELETE → 0 rows', async () => {
    // The system role reaches no mail without this process's key.
    // It holds the table privileges holds the table privileges, so nothing errors on privilege; its only
    // policy demands palisade.system_ok(), false without the key, so RLS filters every row.
    await t.admin.script('SET ROLE palisade_system');
    try {
      expect((await t.admin.query('SELECT id FROM central.mail_outbox')).rowCount).toBe(0);
      expect(await sqlState(t.admin.query(insert(', workspace_id', ', NULL'), [randomUUID()]))).toBe('42501');
      expect((await t.admin.query("UPDATE central.mail_outbox SET status = 'failed' WHERE id = $1", [existing])).rowCount).toBe(0);
      expect((await t.admin.query('DELETE FROM central.mail_outbox WHERE id = $1', [existing])).rowCount).toBe(0);
    } finally {
      await t.admin.script('RESET ROLE');
    }
    expect(await stored(existing)).toMatchObject({ status: 'queued' });
  });

  it('withSystem (the process key): reads every mail', async () => {
    // The key-holding path (the dispatcher, the CLI) is the one reader of the outbox.
    const { rows } = await t.db.withSystem('test: read outbox', (tx) =>
      tx.query<{ id: string }>('SELECT id FROM central.mail_outbox WHERE id = $1', [existing]),
    );
    expect(rows).toEqual([{ id: existing }]);
  });
});
