import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace } from '../../test/db.ts';
import { buildTestApp, testConfig, type TestApp } from '../../test/http.ts';
import { defineModule } from '../kernel/module.ts';
import { call, clientIp, identityApp, member, PASSWORD, signIn, TEST_ARGON2 } from '../../test/identity.ts';

let h: TestApp;
let ws: string;
beforeAll(async () => {
  h = await identityApp();
  ws = await createWorkspace(h.t.db);
});
afterAll(async () => h.close());

const attempt = (email: unknown, password: unknown, ip = clientIp(), headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { email, password }, remoteAddress: ip, headers });

async function attempts(email: string) {
  const { rows } = await h.t.admin.query<{ succeeded: boolean; reason: string; ip: string | null; user_agent: string | null; mfa_status: string }>(
    `SELECT succeeded, reason, host(ip) AS ip, user_agent, mfa_status FROM central.login_attempts WHERE email = $1 ORDER BY created_at`,
    [email],
  );
  return rows;
}

describe('AUTH-6 AUTH-8 sign-in', () => {
  it('issues an HttpOnly, SameSite=Strict session cookie holding a 256-bit token stored only as its hash', async () => {
    const { email, userId } = await member(h.t.db, ws, 'member');
    const res = await attempt(email, PASSWORD);
    expect(res.statusCode).toBe(200);
    const cookie = res.cookies.find((c) => c.name === 'palisade_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await h.t.admin.query<{ token_hash: Buffer }>('SELECT token_hash FROM central.sessions WHERE user_id = $1', [userId]);
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0]?.token_hash.toString('base64url')).not.toBe(cookie?.value);
    expect(JSON.stringify(stored.rows)).not.toContain(cookie?.value ?? 'x');
  });

  // Session fixation: every sign-in yields a new token, whatever cookie the browser brought.
  it('issues a new session at every sign-in', async () => {
    const { email } = await member(h.t.db, ws, 'member');
    const first = await signIn(h.app, email);
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { email, password: PASSWORD }, cookies: { palisade_session: first.cookie }, headers: { 'x-csrf-token': first.csrf } });
    const second = res.cookies.find((c) => c.name === 'palisade_session')?.value;
    expect(second).toBeDefined();
    expect(second).not.toBe(first.cookie);
  });

  it('signs in again from a browser still holding a dead session cookie (no CSRF token needed)', async () => {
    const { email } = await member(h.t.db, ws, 'member');
    const old = await signIn(h.app, email);
    await call(h.app, old, 'POST', '/api/v1/auth/sign-out');
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { email, password: PASSWORD }, cookies: { palisade_session: old.cookie }, remoteAddress: old.ip });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('answers a wrong password and an unknown e-mail alike, and records both', async () => {
    const { email } = await member(h.t.db, ws, 'member');
    const wrong = await attempt(email, 'Not-The-Password-1');
    const unknown = await attempt(`nobody-${Date.now()}@example.com`, 'Not-The-Password-1');
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ ...unknown.json(), instance: '/api/v1/auth/sign-in' });
    expect(await attempts(email)).toEqual([expect.objectContaining({ succeeded: false, reason: 'bad_password', mfa_status: 'not_enrolled' })]);
  });

  it('refuses an e-mail that is not one plain string, before any lookup', async () => {
    for (const email of [['a@example.com'], 'a@example.com, b@example.com', { $ne: null }]) {
      const res = await attempt(email, PASSWORD);
      expect([400, 401]).toContain(res.statusCode);
    }
  });

  // ZITADEL GHSA-7h8m-vrxx-vr4m: parallel attempts must not get more tries than the limit.
  it('locks after 5 failures, even for 50 concurrent wrong passwords, then refuses the right one', async () => {
    const { email, userId } = await member(h.t.db, ws, 'member');
    const burst = await Promise.all(Array.from({ length: 50 }, () => attempt(email, 'Wrong-Password-123!')));
    const codes = burst.map((r) => r.json<{ code: string }>().code);
    expect(codes.filter((c) => c === 'INVALID_CREDENTIALS')).toHaveLength(5);
    expect(codes.filter((c) => c === 'ACCOUNT_LOCKED')).toHaveLength(45);
    const right = await attempt(email, PASSWORD);
    expect(right.statusCode).toBe(423);
    const log = await attempts(email);
    expect(log.filter((a) => a.reason === 'bad_password')).toHaveLength(4);
    expect(log.filter((a) => a.reason === 'locked_out')).toHaveLength(1);
    expect(log.filter((a) => a.reason === 'locked')).toHaveLength(46);
    // The lock is an audit event of the account too.
    const events = await h.t.admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM tenant.audit_events WHERE event_type = 'auth.locked' AND record_id = $1`, [userId],
    );
    expect(events.rows[0]?.n).toBe('1');
  });

  it('a spoofed X-Forwarded-For neither escapes the lock nor lands in the log', async () => {
    const { email } = await member(h.t.db, ws, 'member');
    for (let i = 0; i < 5; i++) await attempt(email, 'Wrong-Password-123!', '198.18.9.9');
    const res = await attempt(email, PASSWORD, '198.18.9.9', { 'x-forwarded-for': '203.0.113.77' });
    expect(res.statusCode).toBe(423);
    expect((await attempts(email)).map((a) => a.ip)).not.toContain('203.0.113.77');
  });

  it('the lock expires after its time, and a success resets the count', async () => {
    const { email, userId } = await member(h.t.db, ws, 'member');
    for (let i = 0; i < 5; i++) await attempt(email, 'Wrong-Password-123!');
    expect((await attempt(email, PASSWORD)).statusCode).toBe(423);
    // Fast-forward: the lock ran out.
    await h.t.db.withSystem('test: lock expires', (tx) => tx.query(`UPDATE central.users SET locked_until = now() - interval '1 second' WHERE id = $1`, [userId]));
    expect((await attempt(email, PASSWORD)).statusCode).toBe(200);
    const { rows } = await h.t.admin.query<{ failed_attempts: number }>('SELECT failed_attempts FROM central.users WHERE id = $1', [userId]);
    expect(rows[0]?.failed_attempts).toBe(0);
  });

  it('records successes with IP, user agent and MFA status, in the login audit and the audit trail', async () => {
    const { email, userId } = await member(h.t.db, ws, 'member');
    await attempt(email, PASSWORD, '198.18.1.2', { 'user-agent': 'TestBrowser/1.0' });
    expect(await attempts(email)).toEqual([{ succeeded: true, reason: 'password', ip: '198.18.1.2', user_agent: 'TestBrowser/1.0', mfa_status: 'not_enrolled' }]);
    const { rows } = await h.t.admin.query<{ actor_user_id: string; ip: string; action: string }>(
      `SELECT actor_user_id, host(ip) AS ip, action FROM tenant.audit_events WHERE event_type = 'auth.login' AND record_id = $1`, [userId],
    );
    expect(rows).toEqual([{ actor_user_id: userId, ip: '198.18.1.2', action: 'LOGIN' }]);
  });
});

describe('AUTH-12 CSRF and origin checks', () => {
  // A cross-site form can send cookies, but neither a custom header nor a JSON body.
  it('refuses a state-changing request with the cookie but without the CSRF header', async () => {
    const { email } = await member(h.t.db, ws, 'member');
    const b = await signIn(h.app, email);
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/me/sessions/revoke-others', cookies: { palisade_session: b.cookie }, remoteAddress: b.ip });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    const forged = await h.app.inject({ method: 'POST', url: '/api/v1/me/sessions/revoke-others', cookies: { palisade_session: b.cookie }, headers: { 'x-csrf-token': 'x'.repeat(43) }, remoteAddress: b.ip });
    expect(forged.statusCode).toBe(403);
    expect((await call(h.app, b, 'POST', '/api/v1/me/sessions/revoke-others')).statusCode).toBe(200);
  });

  it('refuses a cross-site form post (form encoding, foreign Origin)', async () => {
    const { email } = await member(h.t.db, ws, 'member');
    const b = await signIn(h.app, email);
    const form = await h.app.inject({
      method: 'POST', url: '/api/v1/auth/sign-out', cookies: { palisade_session: b.cookie }, remoteAddress: b.ip,
      headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1',
    });
    expect([403, 415]).toContain(form.statusCode);
    const json = await h.app.inject({
      method: 'POST', url: '/api/v1/auth/sign-in', remoteAddress: b.ip,
      headers: { origin: 'https://evil.example' }, payload: { email, password: PASSWORD },
    });
    expect(json.statusCode).toBe(403);
    expect(json.json()).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' });
    // The session still works: nothing was signed out.
    expect((await call(h.app, b, 'GET', '/api/v1/me/sessions')).statusCode).toBe(200);
  });

  it('refuses body fields the route does not take (userId, role, workspaceId, __proto__)', async () => {
    const { email } = await member(h.t.db, ws, 'member');
    for (const extra of [{ userId: '00000000-0000-0000-0000-000000000001' }, { role: 'owner' }, { workspaceId: ws }]) {
      const res = await attempt(email, PASSWORD, clientIp());
      expect(res.statusCode).toBe(200);
      const withExtra = await h.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { email, password: PASSWORD, ...extra }, remoteAddress: clientIp() });
      expect(withExtra.statusCode).toBe(400);
    }
    const proto = await h.app.inject({
      method: 'POST', url: '/api/v1/auth/sign-in', remoteAddress: clientIp(), headers: { 'content-type': 'application/json' },
      payload: `{"email":"${email}","password":"${PASSWORD}","__proto__":{"role":"owner"}}`,
    });
    expect(proto.statusCode).toBe(400);
  });
});

describe('AUTH-12 rate limits on sign-in', () => {
  // One client address gets 20 sign-in attempts a minute; another address is not affected.
  it('answers 429 RATE_LIMITED past the limit, per client address', async () => {
    const ip = clientIp();
    const codes: number[] = [];
    for (let i = 0; i < 22; i++) codes.push((await attempt(`nobody-${i}@example.com`, 'Wrong-Password-123!', ip)).statusCode);
    expect(codes.slice(0, 20).every((c) => c === 401)).toBe(true);
    const limited = await attempt('nobody@example.com', 'Wrong-Password-123!', ip);
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await attempt('nobody@example.com', 'Wrong-Password-123!', clientIp())).statusCode).toBe(401);
  });
});

describe('AUTH-12 the CSRF and Origin checks cover every module', () => {
  // A module added later gets the checks without doing anything: they sit on the root instance.
  it("refuses a cookie-carrying POST to another module's route without the CSRF header", async () => {
    const other = defineModule({
      id: 'other',
      async routes(app) {
        app.post('/api/v1/other/state', { config: { access: 'public' } }, async () => ({ changed: true }));
      },
    });
    const base = testConfig();
    const withOther = await buildTestApp({ database: h.t, modules: [other], config: { identity: { ...base.identity, argon2: TEST_ARGON2 } } });
    try {
      const { email } = await member(h.t.db, ws, 'member');
      const b = await signIn(withOther.app, email);
      const bare = await withOther.app.inject({ method: 'POST', url: '/api/v1/other/state', cookies: { palisade_session: b.cookie }, remoteAddress: b.ip });
      expect(bare.statusCode).toBe(403);
      expect(bare.json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
      const foreign = await withOther.app.inject({ method: 'POST', url: '/api/v1/other/state', headers: { origin: 'https://evil.example' }, remoteAddress: b.ip });
      expect(foreign.json()).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' });
      expect((await call(withOther.app, b, 'POST', '/api/v1/other/state')).json()).toEqual({ changed: true });
    } finally {
      await withOther.close();
    }
  });
});
