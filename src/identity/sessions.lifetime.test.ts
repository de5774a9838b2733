import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace } from '../../test/db.ts';
import { buildTestApp, testConfig, type TestApp } from '../../test/http.ts';
import { call, clientIp, identityApp, member, PASSWORD, signIn, TEST_ARGON2 } from '../../test/identity.ts';
import { issueToken } from './tokens.ts';

let h: TestApp;
let ws: string;
beforeAll(async () => {
  h = await identityApp();
  ws = await createWorkspace(h.t.db);
});
afterAll(async () => h.close());

/** Moves a user's sessions back in time, as if `seconds` had passed since they began / were last used. */
async function age(userId: string, change: { createdSeconds?: number; idleSeconds?: number }): Promise<void> {
  await h.t.db.withSystem('test: age sessions', (tx) =>
    tx.query(
      `UPDATE central.sessions SET created_at = created_at - make_interval(secs => $2),
                                   expires_at = expires_at - make_interval(secs => $2),
                                   last_seen_at = last_seen_at - make_interval(secs => $3)
        WHERE user_id = $1`,
      [userId, change.createdSeconds ?? 0, change.idleSeconds ?? 0],
    ),
  );
}

const members = (b: Awaited<ReturnType<typeof signIn>>) => call(h.app, b, 'GET', `/api/v1/workspaces/${ws}/members`);

describe('AUTH-6 session lifetimes', () => {
  it('ends a session idle for longer than the idle timeout (30 min)', async () => {
    const { email, userId } = await member(h.t.db, ws, 'member');
    const b = await signIn(h.app, email);
    await age(userId, { idleSeconds: 29 * 60 });
    expect((await members(b)).statusCode).toBe(200);
    await age(userId, { idleSeconds: 31 * 60 });
    expect((await members(b)).json()).toMatchObject({ code: 'SESSION_IDLE' });
  });

  it('ends a member session after 8 hours, an owner or admin session after 2', async () => {
    const plain = await member(h.t.db, ws, 'member');
    const admin = await member(h.t.db, ws, 'admin');
    const p = await signIn(h.app, plain.email);
    const a = await signIn(h.app, admin.email);
    await age(plain.userId, { createdSeconds: 3 * 3600 });
    await age(admin.userId, { createdSeconds: 3 * 3600 });
    expect((await members(p)).statusCode).toBe(200);
    expect((await members(a)).json()).toMatchObject({ code: 'SESSION_EXPIRED' });
    await age(plain.userId, { createdSeconds: 5 * 3600 + 60 });
    expect((await members(p)).json()).toMatchObject({ code: 'SESSION_EXPIRED' });
  });

  it('lists my sessions with device details, marking the current one', async () => {
    const { email } = await member(h.t.db, ws, 'member');
    await h.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { email, password: PASSWORD }, remoteAddress: '198.18.3.4', headers: { 'user-agent': 'Phone/2.0' } });
    const laptop = await signIn(h.app, email);
    const res = await call(h.app, laptop, 'GET', '/api/v1/me/sessions');
    const sessions = res.json<{ sessions: { current: boolean; ip: string; userAgent: string | null; createdAt: string; lastSeenAt: string }[] }>().sessions;
    expect(sessions).toHaveLength(2);
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    expect(sessions).toContainEqual(expect.objectContaining({ current: false, ip: '198.18.3.4', userAgent: 'Phone/2.0' }));
  });

  it('an admin sees a member’s sessions; a member cannot see another’s, nor anyone in another workspace', async () => {
    const admin = await member(h.t.db, ws, 'admin');
    const user = await member(h.t.db, ws, 'member');
    const a = await signIn(h.app, admin.email);
    const u = await signIn(h.app, user.email);
    expect((await call(h.app, a, 'GET', `/api/v1/workspaces/${ws}/members/${user.userId}/sessions`)).json<{ sessions: unknown[] }>().sessions).toHaveLength(1);
    expect((await call(h.app, u, 'GET', `/api/v1/workspaces/${ws}/members/${admin.userId}/sessions`)).json()).toMatchObject({ code: 'FORBIDDEN' });
    const other = await createWorkspace(h.t.db);
    const stranger = await member(h.t.db, other, 'member');
    expect((await call(h.app, a, 'GET', `/api/v1/workspaces/${ws}/members/${stranger.userId}/sessions`)).json()).toMatchObject({ code: 'MEMBER_NOT_FOUND' });
    expect((await call(h.app, a, 'POST', `/api/v1/workspaces/${other}/members/${stranger.userId}/sign-out`)).json()).toMatchObject({ code: 'NOT_A_MEMBER' });
  });

  it('joining another workspace keeps the session: it works there at once', async () => {
    const { email, userId } = await member(h.t.db, ws, 'member');
    const b = await signIn(h.app, email);
    const ws2 = await createWorkspace(h.t.db);
    const { token, hash } = issueToken();
    await h.t.db.withSystem('test: invitation with a known token', (tx) =>
      tx.query(`INSERT INTO tenant.invitations (workspace_id, email_normalized, role, token_hash, expires_at) VALUES ($1, $2, 'member', $3, now() + interval '1 hour')`, [ws2, email, hash]),
    );
    const accepted = await call(h.app, b, 'POST', '/api/v1/invitations/accept', { workspaceId: ws2, token });
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json()).toEqual({ workspaceId: ws2, userId });
    expect((await call(h.app, b, 'GET', `/api/v1/workspaces/${ws2}/members`)).statusCode).toBe(200);
    expect((await members(b)).statusCode).toBe(200);
  });

  it('an admin cannot sign out an owner; an owner can sign out an admin', async () => {
    const ws3 = await createWorkspace(h.t.db);
    const owner = await member(h.t.db, ws3, 'owner');
    const admin = await member(h.t.db, ws3, 'admin');
    const o = await signIn(h.app, owner.email);
    const a = await signIn(h.app, admin.email);
    expect((await call(h.app, a, 'POST', `/api/v1/workspaces/${ws3}/members/${owner.userId}/sign-out`)).json()).toMatchObject({ code: 'FORBIDDEN' });
    expect((await call(h.app, o, 'GET', `/api/v1/workspaces/${ws3}/members`)).statusCode).toBe(200);
    expect((await call(h.app, o, 'POST', `/api/v1/workspaces/${ws3}/members/${admin.userId}/sign-out`)).json()).toEqual({ revoked: 1 });
  });

  it('a workspace keeps its last owner', async () => {
    const ws2 = await createWorkspace(h.t.db);
    const owner = await member(h.t.db, ws2, 'owner');
    const o = await signIn(h.app, owner.email);
    expect((await call(h.app, o, 'PATCH', `/api/v1/workspaces/${ws2}/members/${owner.userId}`, { role: 'member' })).json()).toMatchObject({ code: 'LAST_OWNER' });
    expect((await call(h.app, o, 'DELETE', `/api/v1/workspaces/${ws2}/members/${owner.userId}`)).json()).toMatchObject({ code: 'LAST_OWNER' });
  });
});

describe('AUTH-6 AUTH-12 cookies over HTTPS', () => {
  it('uses a __Host- prefixed, Secure cookie when the public URL is https', async () => {
    const base = testConfig();
    const secure = await buildTestApp({ database: h.t, config: { publicUrl: 'https://palisade.example', identity: { ...base.identity, argon2: TEST_ARGON2 } } });
    try {
      const { email } = await member(h.t.db, ws, 'member');
      const res = await secure.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { email, password: PASSWORD }, remoteAddress: clientIp(), headers: { origin: 'https://palisade.example' } });
      expect(res.statusCode).toBe(200);
      expect(res.cookies.find((c) => c.name === '__Host-palisade_session')).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict', path: '/' });
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    } finally {
      await secure.close();
    }
  });
});
