import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../access/control.ts';
import type { Sql } from '../db/types.ts';
import { errorsOf } from '../kernel/errors.ts';
import { identityErrors } from './errors.ts';
import { inWorkspace, whoami, type Client, type IdentityDeps } from './service.ts';
import type { Principal } from '../db/database.ts';

const fail = errorsOf(identityErrors);

/** How every module's routes run a workspace request (decorated on the app as `app.guard`). */
export interface Guard {
  /**
   * Runs `fn` in the workspace the route names (`:workspaceId`) for the request's session, after
   * the session check and the route's declared permission, as palisade_app (RLS applies). A
   * refusal is audited and answered 403 with the rule; see identity's asMember.
   */
  workspace<T>(request: FastifyRequest, fn: (tx: Sql, actor: Actor) => Promise<T>): Promise<T>;
  /** The request's signed-in user, after the same session check (for `signed-in` routes). */
  session(request: FastifyRequest): Promise<Principal>;
}

declare module 'fastify' {
  interface FastifyInstance {
    guard: Guard;
  }
}

export function cookieName(secure: boolean): string {
  return secure ? '__Host-palisade_session' : 'palisade_session';
}

/** Where a request comes from and what its route requires, as the services need it. */
export function requestClient(request: FastifyRequest): Client {
  const access = request.routeOptions.config.access;
  return {
    ip: request.ip,
    userAgent: request.headers['user-agent']?.slice(0, 500) ?? null,
    route: `${request.method} ${request.routeOptions.url ?? ''}`,
    ...(access === undefined ? {} : { access }),
  };
}

/** The request's session token when it is well-formed, else undefined. */
export function sessionToken(request: FastifyRequest, secureCookies: boolean): string | undefined {
  const value = request.cookies[cookieName(secureCookies)];
  return value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
}

/** The caller's session token, or 401 AUTHENTICATION_REQUIRED. */
export function requireToken(request: FastifyRequest, secureCookies: boolean): string {
  const t = sessionToken(request, secureCookies);
  if (t === undefined) throw fail('AUTHENTICATION_REQUIRED');
  return t;
}

export function registerGuard(app: FastifyInstance, deps: Pick<IdentityDeps, 'db' | 'options' | 'access'>, secureCookies: boolean): void {
  const guard: Guard = {
    workspace(request, fn) {
      const workspaceId = (request.params as { workspaceId?: unknown } | undefined)?.workspaceId;
      if (typeof workspaceId !== 'string') throw new Error(`route ${request.routeOptions.url ?? ''} names no :workspaceId`);
      return inWorkspace(deps, requireToken(request, secureCookies), workspaceId, requestClient(request), fn);
    },
    session(request) {
      return whoami(deps, requireToken(request, secureCookies), requestClient(request));
    },
  };
  app.decorate('guard', guard);
  // Defence in depth for ACC-1: a route that is not public answers 401 to a request without a
  // session cookie before its handler runs (the handler still checks the session itself).
  app.addHook('preHandler', async (request) => {
    const access = request.routeOptions.config.access;
    if (access !== undefined && access !== 'public' && sessionToken(request, secureCookies) === undefined) throw fail('AUTHENTICATION_REQUIRED');
  });
}
