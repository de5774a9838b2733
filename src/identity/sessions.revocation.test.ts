import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace } from '../../test/db.ts';
import type { TestApp } from '../../test/http.ts';
import { call, identityApp, member, PASSWORD, signIn, type Browser } from '../../test/identity.ts';
import { deactivateUser } from './service.ts';

let h: TestApp;
beforeAll(async () => {
  h = await identityApp();
});
afterAll(async () => h.close());

/** A workspace with an owner and a member, each signed in (the member twice: two devices). */
async function scene() {
  const ws = await createWorkspace(h.t.db);
  const owner = await member(h.t.db, ws, 'owner');
  const user = await member(h.t.db, ws, 'member');
  const ownerBrowser = await signIn(h.app, owner.email);
  const laptop = await signIn(h.app, user.email);
  const phone = await signIn(h.app, user.email);
  return { ws, owner, user, ownerBrowser, laptop, phone };
}

const members = (ws: string, b: Browser) => call(h.app, b, 'GET', `/api/v1/workspaces/${ws}/members`);

async function expectRefused(res: Awaited<ReturnType<typeof members>>, code: string) {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ code });
}

describe('AUTH-7 LIFE-2 revocation on the very next request', () => {
  // Each change is followed at once by the next request: no cache, no grace window.
  it('signing out a session', async () => {
    const s = await scene();
    expect((await members(s.ws, s.laptop)).statusCode).toBe(200);
    expect((await call(h.app, s.laptop, 'POST', '/api/v1/auth/sign-out')).statusCode).toBe(204);
    await expectRefused(await members(s.ws, s.laptop), 'SESSION_REVOKED');
    expect((await members(s.ws, s.phone)).statusCode).toBe(200);
  });

  it('signing out one of my sessions from another', async () => {
    const s = await scene();
    const list = await call(h.app, s.laptop, 'GET', '/api/v1/me/sessions');
    const phoneSession = list.json<{ sessions: { id: string; current: boolean }[] }>().sessions.find((x) => !x.current);
    expect(phoneSession).toBeDefined();
    expect((await call(h.app, s.laptop, 'DELETE', `/api/v1/me/sessions/${phoneSession?.id ?? ''}`)).statusCode).toBe(204);
    await expectRefused(await members(s.ws, s.phone), 'SESSION_REVOKED');
    expect((await members(s.ws, s.laptop)).statusCode).toBe(200);
  });

  it('signing out everywhere else', async () => {
    const s = await scene();
    expect((await call(h.app, s.laptop, 'POST', '/api/v1/me/sessions/revoke-others')).json()).toEqual({ revoked: 1 });
    await expectRefused(await members(s.ws, s.phone), 'SESSION_REVOKED');
    expect((await members(s.ws, s.laptop)).statusCode).toBe(200);
  });

  it('an admin forcing a member out', async () => {
    const s = await scene();
    const res = await call(h.app, s.ownerBrowser, 'POST', `/api/v1/workspaces/${s.ws}/members/${s.user.userId}/sign-out`);
    expect(res.json()).toEqual({ revoked: 2 });
    await expectRefused(await members(s.ws, s.laptop), 'SESSION_REVOKED');
    await expectRefused(await members(s.ws, s.phone), 'SESSION_REVOKED');
  });

  it('a role change', async () => {
    const s = await scene();
    const res = await call(h.app, s.ownerBrowser, 'PATCH', `/api/v1/workspaces/${s.ws}/members/${s.user.userId}`, { role: 'admin' });
    expect(res.statusCode, res.body).toBe(200);
    await expectRefused(await members(s.ws, s.laptop), 'ROLE_CHANGED');
    // Signing in again gives a session that carries the new role.
    const again = await signIn(h.app, s.user.email);
    expect((await call(h.app, again, 'GET', `/api/v1/workspaces/${s.ws}/invitations`)).statusCode).toBe(200);
  });

  it('deactivation of the member in the workspace', async () => {
    const s = await scene();
    await call(h.app, s.ownerBrowser, 'PATCH', `/api/v1/workspaces/${s.ws}/members/${s.user.userId}`, { status: 'deactivated' });
    await expectRefused(await members(s.ws, s.laptop), 'MEMBERSHIP_DEACTIVATED');
  });

  it('deactivation of the user (a leaver)', async () => {
    const s = await scene();
    await deactivateUser(h.t.db, s.user.userId, 'left the company');
    await expectRefused(await members(s.ws, s.laptop), 'USER_DEACTIVATED');
    await expectRefused(await call(h.app, s.phone, 'GET', '/api/v1/me/sessions'), 'USER_DEACTIVATED');
    expect((await h.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { email: s.user.email, password: PASSWORD } })).statusCode).toBe(401);
  });

  it('removal from the workspace', async () => {
    const s = await scene();
    expect((await call(h.app, s.ownerBrowser, 'DELETE', `/api/v1/workspaces/${s.ws}/members/${s.user.userId}`)).statusCode).toBe(204);
    const res = await members(s.ws, s.laptop);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'NOT_A_MEMBER' });
  });

  it('a password change (the changing session continues on a new token)', async () => {
    const s = await scene();
    const res = await call(h.app, s.laptop, 'POST', '/api/v1/me/password', { currentPassword: PASSWORD, newPassword: 'Another-Strong-Passphrase-42' });
    expect(res.statusCode, res.body).toBe(200);
    await expectRefused(await members(s.ws, s.phone), 'SESSION_REVOKED');
    await expectRefused(await members(s.ws, s.laptop), 'SESSION_REVOKED');
    const rotated = res.cookies.find((c) => c.name === 'palisade_session')?.value ?? '';
    expect(rotated).not.toBe(s.laptop.cookie);
    expect((await members(s.ws, { ...s.laptop, cookie: rotated, csrf: res.json<{ csrfToken: string }>().csrfToken })).statusCode).toBe(200);
  });

  it('a workspace-wide revoke by the owner', async () => {
    const s = await scene();
    expect((await call(h.app, s.ownerBrowser, 'POST', `/api/v1/workspaces/${s.ws}/sessions/revoke-all`)).statusCode).toBe(204);
    await expectRefused(await members(s.ws, s.laptop), 'WORKSPACE_SESSIONS_REVOKED');
    await expectRefused(await members(s.ws, s.ownerBrowser), 'WORKSPACE_SESSIONS_REVOKED');
  });
});
