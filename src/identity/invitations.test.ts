import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, clientIp, fromResponse, identityAppWithMail, PASSWORD, signIn, type Browser } from '../../test/identity.ts';
import { addresses, startSmtpPeer, type SmtpPeer } from '../../test/smtp.ts';
import { firstRunLink } from './setup.ts';

let h: Awaited<ReturnType<typeof identityAppWithMail>>;
let smtp: SmtpPeer;
let owner: Browser;
let ws: string;

beforeAll(async () => {
  smtp = await startSmtpPeer();
  h = await identityAppWithMail(smtp.url);
});
afterAll(async () => {
  await h.close();
  await smtp.close();
});

/** Sends what is queued and returns the mails to `to` that arrived, newest last. */
async function mailsTo(to: string) {
  await h.mail.drain();
  return smtp.received.filter((m) => m.rcptTo.includes(to)).map((m) => m.mail);
}

/** The fragment parameters of the link in the newest mail to `to`. */
async function linkIn(to: string): Promise<URLSearchParams> {
  const mails = await mailsTo(to);
  const text = mails.at(-1)?.text ?? '';
  const match = /(https?:\/\/\S+#\S+)/.exec(text);
  if (match?.[1] === undefined) throw new Error(`no link in the mail to ${to}: ${text}`);
  return new URLSearchParams(new URL(match[1]).hash.slice(1));
}

const accept = (params: URLSearchParams, body: object = {}, browser: Browser | null = null) =>
  call(h.app, browser, 'POST', '/api/v1/invitations/accept', { workspaceId: params.get('workspace'), token: params.get('token'), ...body });

const invite = (by: Browser, email: unknown, role = 'member') => call(h.app, by, 'POST', `/api/v1/workspaces/${ws}/invitations`, { email, role });

describe('AUTH-11 first run, then invitation-only accounts', () => {
  it('the first-run link creates the first workspace and its owner, once', async () => {
    const link = await firstRunLink(h.db, 'http://localhost:3000');
    expect(link).toMatch(/^http:\/\/localhost:3000\/setup#token=[A-Za-z0-9_-]{43}$/);
    const token = new URL(link ?? '').hash.slice('#token='.length);
    const body = { token, workspaceName: 'Acme', workspaceSlug: 'acme', email: 'owner@acme.example', password: PASSWORD };
    const ip = clientIp();
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/setup', payload: body, remoteAddress: ip });
    expect(res.statusCode, res.body).toBe(200);
    ws = res.json<{ workspaceId: string }>().workspaceId;
    owner = fromResponse(res, ip);
    const again = await h.app.inject({ method: 'POST', url: '/api/v1/setup', payload: { ...body, workspaceSlug: 'acme2' }, remoteAddress: clientIp() });
    expect(again.statusCode).toBe(410);
    expect(again.json()).toMatchObject({ code: 'SETUP_LINK_INVALID' });
    expect(await firstRunLink(h.db, 'http://localhost:3000')).toBeNull();
  });

  it('there is no open sign-up', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/auth/sign-up', payload: { email: 'x@example.com', password: PASSWORD } });
    expect(res.statusCode).toBe(404);
  });

  it('an invitation mailed over SMTP creates the account and signs it in', async () => {
    const res = await invite(owner, 'Bob@Example.com');
    expect(res.statusCode, res.body).toBe(201);
    const mails = await mailsTo('bob@example.com');
    expect(mails).toHaveLength(1);
    expect(addresses(mails[0]?.to)).toEqual(['bob@example.com']);
    expect(mails[0]?.subject).toBe('You are invited to Acme on Palisade');
    const params = await linkIn('bob@example.com');
    const accepted = await accept(params, { password: 'Violet-Staircase-Orbit-51', displayName: 'Bob' });
    expect(accepted.statusCode, accepted.body).toBe(200);
    const bob = fromResponse(accepted, clientIp());
    const members = await call(h.app, bob, 'GET', `/api/v1/workspaces/${ws}/members`);
    expect(members.json<{ members: { email: string; role: string }[] }>().members).toEqual(
      expect.arrayContaining([expect.objectContaining({ email: 'bob@example.com', role: 'member' })]),
    );
    // Replaying the used link fails, with a clear code.
    const replay = await accept(params, { password: 'Violet-Staircase-Orbit-51' });
    expect(replay.statusCode).toBe(410);
    expect(replay.json()).toMatchObject({ code: 'INVITATION_USED' });
  });

  it('two concurrent accepts of one invitation: exactly one wins', async () => {
    await invite(owner, 'race@example.com');
    const params = await linkIn('race@example.com');
    const results = await Promise.all(Array.from({ length: 5 }, () => accept(params, { password: 'Amber-Lantern-Quiet-42' })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 410, 410, 410, 410]);
    const { rows } = await h.db.withSystem('test: count accounts', (tx) => tx.query<{ n: string }>(`SELECT count(*) AS n FROM central.users WHERE email_normalized = 'race@example.com'`));
    expect(rows[0]?.n).toBe('1');
  });

  it('a re-invite replaces the old link; expired and withdrawn links say so', async () => {
    await invite(owner, 'carol@example.com');
    const first = await linkIn('carol@example.com');
    await invite(owner, 'carol@example.com', 'admin');
    const second = await linkIn('carol@example.com');
    expect((await accept(first, { password: 'Copper-Meadow-Sleepy-19' })).json()).toMatchObject({ code: 'INVITATION_REVOKED' });

    await h.db.withSystem('test: expire invitation', (tx) =>
      tx.query(`UPDATE tenant.invitations SET expires_at = now() - interval '1 second' WHERE email_normalized = 'carol@example.com' AND revoked_at IS NULL`),
    );
    const expired = await accept(second, { password: 'Copper-Meadow-Sleepy-19' });
    expect(expired.statusCode).toBe(410);
    expect(expired.json()).toMatchObject({ code: 'INVITATION_EXPIRED' });

    const created = await invite(owner, 'dave@example.com');
    await call(h.app, owner, 'DELETE', `/api/v1/workspaces/${ws}/invitations/${created.json<{ id: string }>().id}`);
    expect((await accept(await linkIn('dave@example.com'), { password: 'Granite-Willow-Hollow-27' })).json()).toMatchObject({ code: 'INVITATION_REVOKED' });
    expect((await accept(new URLSearchParams({ workspace: ws, token: 'A'.repeat(43) }))).json()).toMatchObject({ code: 'INVITATION_INVALID' });
  });

  // Invitation takeover: an invitation for an existing account is redeemed only by that account.
  it('an invitation for an existing account needs that account signed in, not another', async () => {
    await invite(owner, 'bob@example.com', 'admin');
    const params = await linkIn('bob@example.com');
    expect((await accept(params, { password: 'Tundra-Pebble-Marsh-88' })).json()).toMatchObject({ code: 'INVITATION_SIGN_IN_REQUIRED' });
    const mallory = await (async () => {
      await invite(owner, 'mallory@example.com');
      const res = await accept(await linkIn('mallory@example.com'), { password: 'Cobalt-Thistle-River-63' });
      return fromResponse(res, clientIp());
    })();
    expect((await accept(params, {}, mallory)).json()).toMatchObject({ code: 'INVITATION_WRONG_ACCOUNT' });
    const bob = await signIn(h.app, 'bob@example.com', 'Violet-Staircase-Orbit-51');
    expect((await accept(params, {}, bob)).statusCode).toBe(200);
  });

  it('only owners and admins invite, and only owners invite owners', async () => {
    await invite(owner, 'erin@example.com');
    const erin = fromResponse(await accept(await linkIn('erin@example.com'), { password: 'Saffron-Glacier-Drum-34' }), clientIp());
    expect((await invite(erin, 'frank@example.com')).json()).toMatchObject({ code: 'FORBIDDEN' });
    expect(await mailsTo('frank@example.com')).toHaveLength(0);
  });

  it('a weak password is refused at acceptance, and the invitation stays usable', async () => {
    await invite(owner, 'gina@example.com');
    const params = await linkIn('gina@example.com');
    const weak = await accept(params, { password: 'Password123!' });
    expect(weak.statusCode).toBe(422);
    expect(weak.json()).toMatchObject({ code: 'WEAK_PASSWORD', problems: ['BREACHED'] });
    expect((await accept(params, { password: 'Juniper-Comet-Anvil-72' })).statusCode).toBe(200);
  });
});

describe('AUTH-2 password reset by mail only', () => {
  const request = (email: unknown) =>
    h.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email }, remoteAddress: clientIp() });
  const complete = (token: string | null, password: string) =>
    h.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/complete', payload: { token, password }, remoteAddress: clientIp() });

  it('mails a one-hour, single-use link; using it signs out every session', async () => {
    const bob = await signIn(h.app, 'bob@example.com', 'Violet-Staircase-Orbit-51');
    expect((await request('bob@example.com')).statusCode).toBe(202);
    const token = (await linkIn('bob@example.com')).get('token');
    expect((await complete(token, 'Marble-Falcon-Ember-31')).statusCode).toBe(204);
    const after = await call(h.app, bob, 'GET', `/api/v1/workspaces/${ws}/members`);
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ code: 'SESSION_REVOKED' });
    expect((await complete(token, 'Indigo-Harbor-Spruce-32')).json()).toMatchObject({ code: 'RESET_LINK_INVALID' });
    await signIn(h.app, 'bob@example.com', 'Marble-Falcon-Ember-31');
  });

  it('a newer request and a password change invalidate earlier links; an expired link fails', async () => {
    await request('erin@example.com');
    const older = (await linkIn('erin@example.com')).get('token');
    await request('erin@example.com');
    const newer = (await linkIn('erin@example.com')).get('token');
    expect((await complete(older, 'Velvet-Quarry-Bramble-14')).json()).toMatchObject({ code: 'RESET_LINK_INVALID' });
    const erin = await signIn(h.app, 'erin@example.com', 'Saffron-Glacier-Drum-34');
    await call(h.app, erin, 'POST', '/api/v1/me/password', { currentPassword: 'Saffron-Glacier-Drum-34', newPassword: 'Obsidian-Fern-Lagoon-26' });
    expect((await complete(newer, 'Velvet-Quarry-Bramble-14')).json()).toMatchObject({ code: 'RESET_LINK_INVALID' });

    await request('erin@example.com');
    const late = (await linkIn('erin@example.com')).get('token');
    await h.db.withSystem('test: expire reset', (tx) => tx.query(`UPDATE central.password_resets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL AND invalidated_at IS NULL`));
    expect((await complete(late, 'Velvet-Quarry-Bramble-14')).json()).toMatchObject({ code: 'RESET_LINK_INVALID' });
  });

  // GitLab CVE-2023-7028 and friends: the request takes one address and mails nobody else.
  it('answers unknown addresses alike and never mails an array, a list or a look-alike address', async () => {
    const before = smtp.received.length;
    const unknown = await request('nobody@example.com');
    expect(unknown.statusCode).toBe(202);
    expect(unknown.body).toBe((await request('bob@example.com')).body);
    for (const email of [['bob@example.com', 'attacker@evil.example'], 'bob@example.com,attacker@evil.example', 'bob@example.com\r\nBcc: attacker@evil.example', 'bоb@example.com']) {
      const res = await request(email);
      expect([400, 422]).toContain(res.statusCode);
    }
    await h.mail.drain();
    const recipients = smtp.received.slice(before).flatMap((m) => m.rcptTo);
    expect(recipients).toEqual(['bob@example.com']);
  });
});

describe('AUTH-11 AUD-1 the identity flows leave their audit events', () => {
  it('records invitations sent, withdrawn and accepted, memberships, sign-ins, password changes and resets', async () => {
    const { rows } = await h.db.withSystem('test: read audit', (tx) =>
      tx.query<{ event_type: string; table_name: string | null }>(
        `SELECT DISTINCT event_type, table_name FROM tenant.audit_events WHERE workspace_id = $1 OR workspace_id = '00000000-0000-0000-0000-000000000000'`,
        [ws],
      ),
    );
    const seen = rows.map((r) => `${r.event_type} ${r.table_name ?? ''}`.trim());
    expect(seen).toEqual(expect.arrayContaining([
      'data.created tenant.invitations', // invitation sent
      'data.updated tenant.invitations', // withdrawn, replaced, accepted
      'members.invitation_accepted tenant.invitations',
      'data.created tenant.members',
      'auth.login central.users',
      'auth.password_reset_requested central.users',
      'auth.password_reset central.users',
      'auth.password_changed central.users',
      'workspace.created central.workspaces',
    ]));
  });
});
