import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createPasswordHasher } from '../src/identity/passwords.ts';
import type { Database } from '../src/db/database.ts';
import pino from 'pino';
import { createApp } from '../src/app.ts';
import { Database as DatabaseClass } from '../src/db/database.ts';
import { migrateDriver } from '../src/db/open.ts';
import { coreModules } from '../src/modules.ts';
import { createMailDispatcher, type MailDispatcher } from '../src/notify/dispatcher.ts';
import { buildTestApp, testConfig, type TestApp } from './http.ts';
import { freshDriver, uniqueSlug } from './db.ts';

/** Cheap argon2id for tests: the cost is configuration, and tests need many hashes. */
export const TEST_ARGON2 = { memoryCost: 1024, timeCost: 1 } as const;
export const PASSWORD = 'Correct-Horse-Battery-9';

export async function identityApp(): Promise<TestApp> {
  const base = testConfig();
  return buildTestApp({ config: { identity: { ...base.identity, argon2: TEST_ARGON2 } } });
}

/** A browser: the session cookie and the CSRF token it was given. */
export interface Browser {
  cookie: string;
  csrf: string;
  userId: string;
  /** Each browser has its own address, so per-IP rate limits apply as to real clients. */
  ip: string;
}

/** An address from 198.18.0.0/15 (RFC 2544, benchmarking): never a real client. */
export function clientIp(): string {
  const n = Math.floor(Math.random() * 2 ** 17);
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

/** Creates an account with a password and a membership, without going through an invitation. */
export async function member(db: Database, workspaceId: string, role: 'owner' | 'admin' | 'member', email = `${uniqueSlug('u')}@example.com`): Promise<{ userId: string; email: string }> {
  const hash = await createPasswordHasher({ ...TEST_ARGON2, parallelism: 1 }).hash(PASSWORD);
  const userId = await db.withSystem('test: account and membership', async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      'INSERT INTO central.users (email, email_normalized, password_hash) VALUES ($1, $1, $2) RETURNING id',
      [email, hash],
    );
    const id = rows[0]?.id ?? '';
    await tx.query('INSERT INTO tenant.members (workspace_id, user_id, role) VALUES ($1, $2, $3)', [workspaceId, id, role]);
    return id;
  });
  return { userId, email };
}

export async function signIn(app: FastifyInstance, email: string, password = PASSWORD, ip = clientIp()): Promise<Browser> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { email, password }, remoteAddress: ip });
  if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
  return fromResponse(res, ip);
}

export function fromResponse(res: LightMyRequestResponse, ip: string): Browser {
  const cookie = res.cookies.find((c) => c.name === 'palisade_session');
  const body = res.json<{ csrfToken: string; userId: string }>();
  if (cookie === undefined) throw new Error('no session cookie set');
  return { cookie: cookie.value, csrf: body.csrfToken, userId: body.userId, ip };
}

/** A request as the browser sends it: its cookie, and its CSRF header on state-changing methods. */
export function call(app: FastifyInstance, browser: Browser | null, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  return app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload }),
    remoteAddress: browser?.ip ?? clientIp(),
    cookies: browser === null ? {} : { palisade_session: browser.cookie },
    headers: browser === null || method === 'GET' ? {} : { 'x-csrf-token': browser.csrf },
  });
}

/**
 * The app over a database of its own (not the run's shared one), with a mail dispatcher sending
 * to `smtpUrl`: a dispatcher claims every queued mail, so it must not see other files' mails.
 */
export async function identityAppWithMail(smtpUrl: string): Promise<{ app: FastifyInstance; db: Database; mail: MailDispatcher; close(): Promise<void> }> {
  const fresh = await freshDriver();
  await migrateDriver(fresh.driver, coreModules);
  const db = await DatabaseClass.open(fresh.driver);
  const mail = createMailDispatcher({ db, transport: { kind: 'smtp', url: smtpUrl }, log: pino({ level: 'silent' }), pollMs: 3_600_000 });
  const base = testConfig();
  const app = await createApp({
    config: { ...base, identity: { ...base.identity, argon2: TEST_ARGON2 } },
    db,
    modules: coreModules,
    mailQueued: () => undefined,
  });
  await app.ready();
  return {
    app,
    db,
    mail,
    async close() {
      await app.close();
      await mail.stop();
      await db.close();
      await fresh.drop();
    },
  };
}
