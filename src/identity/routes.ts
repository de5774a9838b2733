import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorsOf } from '../kernel/errors.ts';
import { identityErrors } from './errors.ts';
import { acceptInvitation, invite, listInvitations, revokeInvitation } from './invitations.ts';
import { forceSignOut, listMemberSessions, listMembers, removeMember, revokeWorkspaceSessions, updateMember } from './members.ts';
import {
  changePassword,
  completePasswordReset,
  listOwnSessions,
  requestPasswordReset,
  revokeOwnSessions,
  signIn,
  signOut,
  type IdentityDeps,
  type NewSession,
  whoami,
} from './service.ts';
import { completeSetup } from './setup.ts';
import { cookieName, requestClient as client, requireToken, sessionToken as readSessionToken } from './guard.ts';
import { csrfTokenFor, safeEqual } from './tokens.ts';

const fail = errorsOf(identityErrors);

const workspaceParams = z.object({ workspaceId: z.uuid() });
const memberParams = workspaceParams.extend({ userId: z.uuid() });
const role = z.enum(['owner', 'admin', 'member']);
/** Request bodies accept exactly their fields: `userId`, `role`, `workspaceId`, `__proto__` … extra are refused. */
const strict = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape);
const password = z.string().min(1).max(1024);

const SESSION_VIEW = z.object({
  id: z.uuid(),
  current: z.boolean(),
  createdAt: z.date(),
  lastSeenAt: z.date(),
  expiresAt: z.date(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  deviceId: z.string().nullable(),
});

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: the route acts on no session, so the CSRF token is not required (Origin still is). */
    csrf?: false;
  }
}

export interface IdentityHttpOptions {
  /** Cookie name: `__Host-palisade_session` when served over HTTPS (Secure), else `palisade_session`. */
  secureCookies: boolean;
  /** Origins allowed on state-changing requests (the public URL's origin). */
  allowedOrigins: readonly string[];
  sessionMaxAgeSeconds: number;
}

/**
 * AUTH-12, for every route of every module: a state-changing request must come from our own
 * origin, and one carrying a session cookie must also present the session's CSRF token in a
 * header that a cross-site form cannot set. JSON-only bodies (text/plain and forms get 415) close
 * the remaining form path. Registered on the root instance (ModuleDefinition.global).
 */
export function registerCsrfGuard(app: FastifyInstance, http: Pick<IdentityHttpOptions, 'secureCookies' | 'allowedOrigins'>): void {
  const name = cookieName(http.secureCookies);
  app.addHook('preHandler', async (request) => {
    if (!UNSAFE.has(request.method)) return;
    const origin = request.headers.origin;
    if (origin !== undefined && !http.allowedOrigins.includes(origin)) throw fail('ORIGIN_NOT_ALLOWED');
    // Routes that take no authority from the cookie (sign-in, reset, setup) opt out of the token:
    // a browser still holding an expired session cookie must be able to sign in again.
    if (request.routeOptions.config.csrf === false) return;
    const t = request.cookies[name];
    if (t === undefined) return;
    const header = request.headers['x-csrf-token'];
    if (typeof header !== 'string' || !safeEqual(header, csrfTokenFor(t))) throw fail('CSRF_TOKEN_INVALID');
  });
}

/** The routes of sign-in, sessions, invitations, members and passwords. */
export async function identityRoutes(app: FastifyInstance, deps: IdentityDeps, http: IdentityHttpOptions): Promise<void> {
  const name = cookieName(http.secureCookies);
  const r = app.withTypeProvider<ZodTypeProvider>();

  const sessionToken = (request: FastifyRequest) => readSessionToken(request, http.secureCookies);
  const token = (request: FastifyRequest) => requireToken(request, http.secureCookies);

  const setSession = (reply: FastifyReply, session: NewSession) => {
    reply.setCookie(name, session.token, {
      httpOnly: true,
      secure: http.secureCookies,
      sameSite: 'strict',
      path: '/',
      maxAge: http.sessionMaxAgeSeconds,
    });
  };

  const sessionBody = z.object({ userId: z.uuid(), csrfToken: z.string(), expiresAt: z.date() });
  const sessionResponse = (s: NewSession) => ({ userId: s.userId, csrfToken: s.csrfToken, expiresAt: s.expiresAt });

  r.post('/api/v1/auth/sign-in', {
    config: { access: 'public', csrf: false, rateLimit: { max: 20, timeWindow: '1 minute' } },
    schema: { summary: 'Sign in with e-mail and password', body: strict({ email: z.string().max(320), password }), response: { 200: sessionBody } },
  }, async (request, reply) => {
    const session = await signIn(deps, request.body, client(request));
    setSession(reply, session);
    return sessionResponse(session);
  });

  r.post('/api/v1/auth/sign-out', { config: { access: 'signed-in' }, schema: { summary: 'Sign out this session' } }, async (request, reply) => {
    await signOut(deps, token(request), client(request));
    reply.clearCookie(name, { path: '/' });
    return reply.code(204).send();
  });

  r.get('/api/v1/auth/session', { config: { access: 'signed-in' },
    schema: { summary: 'The current session and its CSRF token', response: { 200: z.object({ userId: z.uuid(), email: z.string(), csrfToken: z.string() }) } },
  }, async (request) => {
    const t = token(request);
    const principal = await whoami(deps, t, client(request));
    return { userId: principal.userId, email: principal.email, csrfToken: csrfTokenFor(t) };
  });

  r.get('/api/v1/me/sessions', { config: { access: 'signed-in' },
    schema: { summary: 'My live sessions', response: { 200: z.object({ sessions: z.array(SESSION_VIEW) }) } },
  }, async (request) => ({ sessions: await listOwnSessions(deps, token(request), client(request)) }));

  r.delete('/api/v1/me/sessions/:sessionId', { config: { access: 'signed-in' },
    schema: { summary: 'Sign out one of my sessions', params: z.object({ sessionId: z.uuid() }) },
  }, async (request, reply) => {
    await revokeOwnSessions(deps, token(request), { sessionId: request.params.sessionId }, client(request));
    return reply.code(204).send();
  });

  r.post('/api/v1/me/sessions/revoke-others', { config: { access: 'signed-in' },
    schema: { summary: 'Sign out all my other sessions', response: { 200: z.object({ revoked: z.number() }) } },
  }, async (request) => ({ revoked: await revokeOwnSessions(deps, token(request), { allOthers: true }, client(request)) }));

  r.post('/api/v1/me/password', {
    config: { access: 'signed-in', rateLimit: { max: 10, timeWindow: '1 minute' } },
    schema: { summary: 'Change my password (signs out every other session)', body: strict({ currentPassword: password, newPassword: password }), response: { 200: sessionBody } },
  }, async (request, reply) => {
    const session = await changePassword(deps, token(request), request.body, client(request));
    setSession(reply, session);
    return sessionResponse(session);
  });

  r.post('/api/v1/auth/password-reset/request', {
    config: { access: 'public', csrf: false, rateLimit: { max: 5, timeWindow: '1 minute' } },
    // Exactly one string: an array or object is a 400 before any lookup (THREATS: reset mailed to an attacker).
    schema: { summary: 'Mail a password reset link (same answer for unknown addresses)', body: strict({ email: z.string().max(320) }) },
  }, async (request, reply) => {
    await requestPasswordReset(deps, request.body, client(request));
    return reply.code(202).send({ status: 'if the address has an account, a link is on its way' });
  });

  r.post('/api/v1/auth/password-reset/complete', {
    config: { access: 'public', csrf: false, rateLimit: { max: 10, timeWindow: '1 minute' } },
    schema: { summary: 'Set a new password with a reset link', body: strict({ token: z.string().max(100), password }) },
  }, async (request, reply) => {
    await completePasswordReset(deps, request.body, client(request));
    return reply.code(204).send();
  });

  r.post('/api/v1/setup', {
    config: { access: 'public', csrf: false, rateLimit: { max: 5, timeWindow: '1 minute' } },
    schema: {
      summary: 'First run: create the first workspace and its owner with the setup link',
      body: strict({
        token: z.string().max(100),
        workspaceName: z.string().min(1).max(200),
        workspaceSlug: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/),
        email: z.string().max(320),
        displayName: z.string().min(1).max(200).optional(),
        password,
      }),
      response: { 200: sessionBody.extend({ workspaceId: z.uuid() }) },
    },
  }, async (request, reply) => {
    const { workspaceId, session } = await completeSetup(deps, request.body, client(request));
    setSession(reply, session);
    return { workspaceId, ...sessionResponse(session) };
  });

  r.post('/api/v1/invitations/accept', {
    config: { access: 'public', rateLimit: { max: 10, timeWindow: '1 minute' } },
    schema: {
      summary: 'Accept an invitation (new account, or signed in as the invited address)',
      body: strict({ workspaceId: z.uuid(), token: z.string().max(100), password: password.optional(), displayName: z.string().min(1).max(200).optional() }),
    },
  }, async (request, reply) => {
    const { workspaceId, token: invitationToken, password: pw, displayName } = request.body;
    const result = await acceptInvitation(
      deps,
      { workspaceId, token: invitationToken, ...(pw === undefined ? {} : { password: pw }), ...(displayName === undefined ? {} : { displayName }), sessionToken: sessionToken(request) },
      client(request),
    );
    if (result.session !== null) setSession(reply, result.session);
    return { workspaceId, userId: result.userId, ...(result.session === null ? {} : { csrfToken: result.session.csrfToken }) };
  });

  // Workspace-scoped: every route names its workspace; the session check proves membership.
  r.get('/api/v1/workspaces/:workspaceId/members', { config: { access: 'members.read' }, schema: { summary: 'Members of the workspace', params: workspaceParams } },
    async (request) => ({ members: await listMembers(deps, token(request), request.params.workspaceId, client(request)) }));

  r.patch('/api/v1/workspaces/:workspaceId/members/:userId', { config: { access: 'members.manage' },
    schema: { summary: "Change a member's role or status", params: memberParams, body: strict({ role: role.optional(), status: z.enum(['active', 'deactivated']).optional() }) },
  }, async (request) => {
    const { role: newRole, status } = request.body;
    return updateMember(deps, token(request), request.params.workspaceId, request.params.userId,
      { ...(newRole === undefined ? {} : { role: newRole }), ...(status === undefined ? {} : { status }) }, client(request));
  });

  r.delete('/api/v1/workspaces/:workspaceId/members/:userId', { config: { access: 'members.remove' }, schema: { summary: 'Remove a member', params: memberParams } }, async (request, reply) => {
    await removeMember(deps, token(request), request.params.workspaceId, request.params.userId, client(request));
    return reply.code(204).send();
  });

  r.get('/api/v1/workspaces/:workspaceId/members/:userId/sessions', { config: { access: 'sessions.read_any' },
    schema: { summary: "A member's live sessions (admins)", params: memberParams, response: { 200: z.object({ sessions: z.array(SESSION_VIEW) }) } },
  }, async (request) => ({ sessions: await listMemberSessions(deps, token(request), request.params.workspaceId, request.params.userId, client(request)) }));

  r.post('/api/v1/workspaces/:workspaceId/members/:userId/sign-out', { config: { access: 'sessions.revoke_any' },
    schema: { summary: 'Sign a member out everywhere (admins)', params: memberParams, response: { 200: z.object({ revoked: z.number() }) } },
  }, async (request) => ({ revoked: await forceSignOut(deps, token(request), request.params.workspaceId, request.params.userId, client(request)) }));

  r.post('/api/v1/workspaces/:workspaceId/sessions/revoke-all', { config: { access: 'sessions.revoke_workspace' },
    schema: { summary: 'Sign every member out of this workspace (owners)', params: workspaceParams },
  }, async (request, reply) => {
    await revokeWorkspaceSessions(deps, token(request), request.params.workspaceId, client(request));
    return reply.code(204).send();
  });

  r.post('/api/v1/workspaces/:workspaceId/invitations', {
    config: { access: 'members.invite', rateLimit: { max: 30, timeWindow: '1 minute' } },
    schema: { summary: 'Invite an e-mail address with a role', params: workspaceParams, body: strict({ email: z.string().max(320), role }) },
  }, async (request, reply) => {
    const created = await invite(deps, token(request), request.params.workspaceId, request.body, client(request));
    return reply.code(201).send(created);
  });

  r.get('/api/v1/workspaces/:workspaceId/invitations', { config: { access: 'members.invite' }, schema: { summary: 'Invitations of the workspace', params: workspaceParams } },
    async (request) => ({ invitations: await listInvitations(deps, token(request), request.params.workspaceId, client(request)) }));

  r.delete('/api/v1/workspaces/:workspaceId/invitations/:invitationId', { config: { access: 'members.invite' },
    schema: { summary: 'Withdraw an invitation', params: workspaceParams.extend({ invitationId: z.uuid() }) },
  }, async (request, reply) => {
    await revokeInvitation(deps, token(request), request.params.workspaceId, request.params.invitationId, client(request));
    return reply.code(204).send();
  });
}
