import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { DestinationStream } from 'pino';
import { AccessCatalog } from './access/catalog.ts';
import { AccessControl } from './access/control.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { registerProblemHandlers, sendFrameworkError } from './http/problems.ts';
import { SECURITY_HEADERS } from './http/headers.ts';
import { errorsOf } from './kernel/errors.ts';
import type { ModuleDefinition } from './kernel/module.ts';
import { httpErrors } from './http/errors.ts';

const failHttp = errorsOf(httpErrors);

/** Log fields that may carry credentials: never written, whatever the level. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.token',
  '*.secret',
  '*.systemKey',
  'err.config',
  // PGlite errors carry the failing statement's bound values.
  'err.params',
  'err.query',
];

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's permission catalog, roles and route declarations. */
    access: AccessControl;
  }
}

export interface AppOptions {
  config: Config;
  db: Database;
  modules: readonly ModuleDefinition[];
  /**
   * Where log lines go; tests pass a capturing stream to check what is (never) logged.
   * @default standard output
   */
  logStream?: DestinationStream;
  /** Told after a commit that queued mail (the dispatcher's kick). @default does nothing */
  mailQueued?: () => void;
}

/** Builds the HTTP server: security headers, problem+json errors, OpenAPI, then each module. */
export async function createApp({ config, db, modules, logStream, mailQueued = () => undefined }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      ...(logStream === undefined ? {} : { stream: logStream }),
      redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
      serializers: {
        // Query strings can carry one-time tokens (reset and invitation links): log the path only.
        req: (req: { method: string; url: string; ip?: string }) => ({
          method: req.method,
          path: req.url.split('?')[0],
          ip: req.ip,
        }),
      },
    },
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // Request ids are ours, not the client's: a forged X-Request-Id must not reach the logs.
    genReqId: () => crypto.randomUUID(),
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    frameworkErrors: sendFrameworkError,
  });
  // A JSON API: text/plain is what a cross-site <form> can send without a preflight, so it is not
  // parsed at all (415) rather than left to each route's schema.
  app.removeContentTypeParser('text/plain');

  // ACC-1: nothing is allowed by default. Every route states what it requires; one that does not,
  // or names a permission no module declares, stops the app from starting.
  const catalog = new AccessCatalog(modules);
  const access = new AccessControl(catalog);
  app.decorate('access', access);
  app.addHook('onRoute', (route) => {
    if (route.method === 'HEAD') return;
    const required = (route.config as { access?: unknown } | undefined)?.access;
    const where = `${String(route.method)} ${route.url}`;
    if (typeof required !== 'string') throw new Error(`route ${where} declares no access (config.access: 'public', 'signed-in' or a permission)`);
    if (required !== 'public' && required !== 'signed-in') {
      if (!catalog.has(required)) throw new Error(`route ${where} requires unknown permission ${required}`);
      if (!route.url.includes(':workspaceId')) throw new Error(`route ${where} requires ${required} but names no workspace`);
    }
    for (const method of [route.method].flat()) access.routes.push({ method, url: route.url, access: required });
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandlers(app);

  // Security headers on every response, computed once from helmet's options (src/http/headers.ts).
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    done();
  });
  await app.register(cookie);
  // Per-route limits only (sign-in, reset, invitations declare theirs), keyed by the client IP as
  // Fastify computes it: X-Forwarded-For counts only when TRUST_PROXY says a proxy sets it.
  await app.register(rateLimit, { global: false, errorResponseBuilder: () => failHttp('RATE_LIMITED') });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Palisade API', version: '0.1.0' },
    },
    transform: jsonSchemaTransform,
  });
  app.get('/api/openapi.json', { schema: { hide: true }, config: { access: 'public' } }, async () => app.swagger());

  const ctx = { db, config, mailQueued, access };
  for (const module of modules) await module.global?.(app, ctx);
  for (const module of modules) {
    const routes = module.routes;
    if (routes === undefined) continue;
    await app.register(
      async (scope) => {
        await routes(scope, ctx);
      },
      { name: `module:${module.id}` } as Record<string, unknown>,
    );
  }
  return app;
}
