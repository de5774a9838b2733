import { randomBytes } from 'node:crypto';
import { csrfTokenFor } from '../identity/tokens.ts';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openTestDatabase } from '../../test/db.ts';
import { buildTestApp, captureLogs, type TestApp } from '../../test/http.ts';
import { defineErrors, errorsOf } from '../kernel/errors.ts';
import { defineModule } from '../kernel/module.ts';

/** Internals a failing handler holds; none of them may reach a client. */
const LEAKY_SQL = "SELECT password_hash FROM central.users WHERE email = 'ceo@example.com'";
const LEAKY_KEY = `sk_live_${randomBytes(12).toString('hex')}`;
/** Real statements that fail as palisade_app: no privilege on the private schema, a syntax error. */
const FORBIDDEN_SQL = 'SELECT key_hash FROM palisade_private.system_keys';
const BROKEN_SQL = 'SELEC password_hash FRM central.users';

const echoErrors = defineErrors({ ECHO_REFUSED: { status: 409, title: 'The echo was refused' } });
const refuse = errorsOf(echoErrors);

/** A test module, plain data like any other: a validated route and handlers that fail on purpose. */
const echoModule = defineModule({
  id: 'echo',
  errors: echoErrors,
  async routes(app, { db }) {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.post(
      '/echo',
      {
        config: { access: 'public' },
        schema: {
          summary: 'Echo a small object',
          body: z.object({
            name: z.string().min(1).max(40),
            age: z.number().int().min(0),
            tags: z.array(z.string()).max(3).optional(),
            password: z.string().optional(),
          }),
          response: { 200: z.object({ name: z.string(), age: z.number() }) },
        },
      },
      async (request) => ({ name: request.body.name, age: request.body.age }),
    );
    r.get(
      '/echo/:id',
      { config: { access: 'public' }, schema: { params: z.object({ id: z.string() }), querystring: z.object({ n: z.coerce.number().int().optional() }) } },
      async (request) => ({ id: request.params.id, n: request.query.n ?? null }),
    );
    r.get('/echo-refused', { config: { access: 'public' } }, async () => {
      throw refuse('ECHO_REFUSED', 'this echo is switched off');
    });
    r.get('/boom', { config: { access: 'public' } }, async () => {
      throw new Error(`${LEAKY_SQL} failed, key ${LEAKY_KEY}`);
    });
    r.get('/boom-forbidden', { config: { access: 'public' } }, async () => db.query(FORBIDDEN_SQL));
    r.get('/boom-typo', { config: { access: 'public' } }, async () => db.query(BROKEN_SQL));
  },
});

// Asymmetric matchers are typed `any`; give them a type before they go into object literals.
const aString: unknown = expect.any(String);
const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern);

let h: TestApp;

beforeAll(async () => {
  // The smallest body limit the configuration accepts, so that 413 needs only a small body.
  h = await buildTestApp({ modules: [echoModule], config: { bodyLimit: 1024 } });
});
afterAll(async () => h.close());

/** The parsed problem of a response, after checking what every problem must look like. */
function expectProblem(res: LightMyRequestResponse, status: number, code: string): Record<string, unknown> {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const body = res.json<Record<string, unknown>>();
  expect(body).toMatchObject({
    type: `urn:palisade:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: aString,
    status,
    code,
    instance: matching(/^\/[^?]*$/),
  });
  expect(body).not.toHaveProperty('stack');
  expect(res.body).not.toMatch(/\bat .+:\d+:\d+/); // a stack frame
  expect(res.body).not.toMatch(/FST_|node_modules/);
  return body;
}

describe('GET /healthz', () => {
  it('answers 200 with the database kind after a real round trip', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json()).toEqual({ status: 'ok', database: h.t.kind });
  });

  it('answers 503 DATABASE_UNAVAILABLE when the database is gone, without the driver error', async () => {
    // A load balancer must see the outage; the client must not see the driver's message.
    const gone = await openTestDatabase();
    const app = await buildTestApp({ database: gone });
    try {
      await gone.close();
      const reason = await gone.db.withAnonymous((tx) => tx.query('SELECT 1')).then(
        () => 'the closed database still answered',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      const res = await app.app.inject({ method: 'GET', url: '/healthz' });
      const body = expectProblem(res, 503, 'DATABASE_UNAVAILABLE');
      expect(body).toEqual({
        type: 'urn:palisade:problem:database-unavailable',
        title: 'The database does not answer',
        status: 503,
        code: 'DATABASE_UNAVAILABLE',
        instance: '/healthz',
      });
      expect(res.body).not.toContain(reason);
    } finally {
      await app.close();
    }
  });
});

describe('errors are problem+json without internals', () => {
  it('an unknown route is 404 NOT_FOUND; the query string is not echoed', async () => {
    // Query strings carry one-time tokens; a problem body may be cached or logged by a proxy.
    const res = await h.app.inject({ method: 'GET', url: '/no/such/route?token=abc123secret' });
    const body = expectProblem(res, 404, 'NOT_FOUND');
    expect(body).toEqual({
      type: 'urn:palisade:problem:not-found',
      title: 'No such resource',
      status: 404,
      code: 'NOT_FOUND',
      detail: 'no route for GET /no/such/route',
      instance: '/no/such/route',
    });
    expect(res.body).not.toContain('abc123secret');
  });

  it('an unknown method on a known path is 404 NOT_FOUND', async () => {
    expectProblem(await h.app.inject({ method: 'DELETE', url: '/healthz' }), 404, 'NOT_FOUND');
  });

  it('a body that breaks the schema is 400 VALIDATION_FAILED with each field, not its value', async () => {
    // Field errors say where and why, never what was sent (it may be a password).
    const res = await h.app.inject({
      method: 'POST',
      url: '/echo',
      payload: { name: '', age: 'old', tags: ['a', 7], password: 12345 },
    });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body.detail).toBe('4 field(s) are invalid');
    expect(body.errors).toEqual([
      { in: 'body', path: '/name', message: aString },
      { in: 'body', path: '/age', message: aString },
      { in: 'body', path: '/tags/1', message: aString },
      { in: 'body', path: '/password', message: aString },
    ]);
    expect(res.body).not.toContain('12345');
    expect(res.body).not.toContain('old');
  });

  it('a body with a missing field and an unknown type names the field', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/echo', payload: { age: 3 } });
    expect(expectProblem(res, 400, 'VALIDATION_FAILED').errors).toEqual([
      { in: 'body', path: '/name', message: matching(/expected string/) },
    ]);
  });

  it('a bad query string is 400 VALIDATION_FAILED in querystring', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/echo/abc?n=many' });
    expect(expectProblem(res, 400, 'VALIDATION_FAILED').errors).toEqual([
      { in: 'querystring', path: '/n', message: aString },
    ]);
  });

  it.each([
    ['truncated', '{"name":"a","age":'],
    ['not JSON at all', 'name=a&age=3'],
    ['empty', ''],
  ])('a %s JSON body is 400 MALFORMED_JSON without the parser message', async (_, payload) => {
    // JSON.parse messages quote the body they failed on.
    const res = await h.app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    const body = expectProblem(res, 400, 'MALFORMED_JSON');
    expect(body).not.toHaveProperty('detail');
    expect(res.body).not.toMatch(/Unexpected|position|SyntaxError/);
  });

  it('a body over config.bodyLimit is 413 PAYLOAD_TOO_LARGE', async () => {
    // The limit from the configuration is what bounds the memory one request can take.
    const res = await h.app.inject({ method: 'POST', url: '/echo', payload: { name: 'x'.repeat(2000), age: 1 } });
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it.each(['application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    'a %s body is 415 UNSUPPORTED_MEDIA_TYPE',
    async (contentType) => {
      // Form encodings are what a cross-site HTML form can send; the API parses none of them.
      const res = await h.app.inject({
        method: 'POST',
        url: '/echo',
        headers: { 'content-type': contentType },
        payload: 'name=a',
      });
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    },
  );

  it('a text/plain body is refused with 415, never parsed', async () => {
    // text/plain is a CORS-simple type, so a cross-site form can send it without a preflight;
    // the API does not parse it at all.
    const res = await h.app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'text/plain' },
      payload: '{"name":"a","age":3}',
    });
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('a path parameter with broken percent-encoding is 400 BAD_REQUEST, path not echoed in detail', async () => {
    // The router rejects it before any hook; without the framework-error handler this was plain
    // JSON echoing the path, with no security headers.
    const res = await h.app.inject({ method: 'GET', url: '/echo/%E0%A4%A' });
    expect(expectProblem(res, 400, 'BAD_REQUEST')).not.toHaveProperty('detail');
  });

  it('a path parameter over maxParamLength is 414 URI_TOO_LONG', async () => {
    // Same router path as above: problem+json, not Fastify's default body echoing the parameter.
    const res = await h.app.inject({ method: 'GET', url: `/echo/${'x'.repeat(300)}` });
    expect(expectProblem(res, 414, 'URI_TOO_LONG')).not.toHaveProperty('detail');
  });

  it("a module's own error keeps its code, status and detail", async () => {
    const res = await h.app.inject({ method: 'GET', url: '/echo-refused' });
    expect(expectProblem(res, 409, 'ECHO_REFUSED')).toEqual({
      type: 'urn:palisade:problem:echo-refused',
      title: 'The echo was refused',
      status: 409,
      code: 'ECHO_REFUSED',
      detail: 'this echo is switched off',
      instance: '/echo-refused',
    });
  });

  it('a plain Error is 500 INTERNAL_ERROR without its message', async () => {
    // An unexpected error's message is internal (SQL, keys): the client gets the bare code.
    const res = await h.app.inject({ method: 'GET', url: '/boom' });
    expect(expectProblem(res, 500, 'INTERNAL_ERROR')).toEqual({
      type: 'urn:palisade:problem:internal-error',
      title: 'Internal error',
      status: 500,
      code: 'INTERNAL_ERROR',
      instance: '/boom',
    });
    expect(res.body).not.toContain(LEAKY_KEY);
    expect(res.body).not.toContain('password_hash');
  });

  it.each([
    ['/boom-forbidden', FORBIDDEN_SQL],
    ['/boom-typo', BROKEN_SQL],
  ])('a real database error (%s) is 500 INTERNAL_ERROR without SQL or the database message', async (url, sql) => {
    // A database error names tables, columns and values; the client must learn none of them.
    const message = await h.t.db.query(sql).then(
      () => 'the statement unexpectedly succeeded',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    expect(message).toMatch(/permission denied|syntax error/);
    const res = await h.app.inject({ method: 'GET', url });
    expect(expectProblem(res, 500, 'INTERNAL_ERROR')).not.toHaveProperty('detail');
    expect(res.body).not.toContain(message);
    expect(res.body).not.toMatch(/SELEC|palisade_private|system_keys|central\.users|permission|syntax|42501|42601/);
  });
});

describe('AUTH-12 security headers (partial: CSRF protection comes with sessions)', () => {
  const requests: [string, InjectOptions][] = [
    ['200 health', { method: 'GET', url: '/healthz' }],
    ['200 OpenAPI', { method: 'GET', url: '/api/openapi.json' }],
    ['200 module route', { method: 'POST', url: '/echo', payload: { name: 'a', age: 1 } }],
    ['404 unknown route', { method: 'GET', url: '/nowhere' }],
    ['400 validation', { method: 'POST', url: '/echo', payload: { name: '' } }],
    ['400 malformed JSON', { method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{' }],
    ['413 too large', { method: 'POST', url: '/echo', payload: { name: 'x'.repeat(2000), age: 1 } }],
    ['415 media type', { method: 'POST', url: '/echo', headers: { 'content-type': 'application/xml' }, payload: '<a/>' }],
    ['409 module error', { method: 'GET', url: '/echo-refused' }],
    ['500 internal', { method: 'GET', url: '/boom' }],
    ['500 database', { method: 'GET', url: '/boom-forbidden' }],
    ['400 bad URL (router)', { method: 'GET', url: '/echo/%E0%A4%A' }],
    ['414 long parameter (router)', { method: 'GET', url: `/echo/${'y'.repeat(300)}` }],
  ];

  it.each(requests)('%s', async (_, request) => {
    // Every response, success or error, forbids framing, scripting, sniffing, referrers and plain HTTP.
    const res = await h.app.inject(request);
    const csp = String(res.headers['content-security-policy']);
    expect(csp.split(';').map((d) => d.trim())).toEqual(expect.arrayContaining(["default-src 'none'", "frame-ancestors 'none'"]));
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toMatch(/^max-age=(\d+); includeSubDomains$/);
    expect(Number(/max-age=(\d+)/.exec(String(res.headers['strict-transport-security']))?.[1])).toBeGreaterThanOrEqual(31536000);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
    expect(res.headers).not.toHaveProperty('x-powered-by');
  });
});

describe('OpenAPI', () => {
  it('GET /api/openapi.json is an OpenAPI 3.1 document of the core and module routes', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{ openapi: string; info: { title: string }; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('Palisade API');
    expect(doc.paths['/healthz']?.get).toMatchObject({
      responses: { 200: { content: { 'application/json': { schema: { properties: { status: { enum: ['ok'] } } } } } } },
    });
    expect(doc.paths['/echo']?.post).toMatchObject({
      summary: 'Echo a small object',
      requestBody: {
        content: {
          'application/json': {
            schema: { type: 'object', required: ['name', 'age'], properties: { name: { type: 'string', minLength: 1 } } },
          },
        },
      },
    });
    expect(doc.paths).toHaveProperty(['/echo/{id}']);
    // The document itself is hidden from the document.
    expect(doc.paths).not.toHaveProperty(['/api/openapi.json']);
  });
});

describe('logs', () => {
  it('never contain credentials, secret body fields, query strings or a client-chosen request id', async () => {
    // Logs are shipped and kept far longer than sessions: a logged cookie or reset token is a
    // stolen session or account.
    const logs = captureLogs();
    const app = await buildTestApp({
      database: h.t,
      modules: [echoModule],
      config: { logLevel: 'trace', bodyLimit: 1024 },
      logStream: logs,
    });
    const secret = (label: string) => `${label}-${randomBytes(8).toString('hex')}`;
    const cookie = secret('cookie');
    const bearer = secret('bearer');
    // The session's CSRF token, so the state-changing requests pass the CSRF check and reach the handler.
    const csrf = csrfTokenFor(cookie);
    const password = secret('password');
    const queryToken = secret('querytoken');
    const requestId = secret('reqid');
    const credentials = { cookie: `palisade_session=${cookie}`, authorization: `Bearer ${bearer}`, 'x-csrf-token': csrf };
    try {
      const sent = [
        // Accepted, refused by the schema, malformed, too large: the body never reaches a log line.
        { method: 'POST', url: `/echo?token=${queryToken}`, payload: { name: 'a', age: 1, password } },
        { method: 'POST', url: `/echo?token=${queryToken}`, payload: { name: '', age: -1, password } },
        { method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: `{"password":"${password}"` },
        { method: 'POST', url: '/echo', payload: { name: 'a', age: 1, password: `${password}${'x'.repeat(2000)}` } },
        { method: 'GET', url: `/healthz?reset_token=${queryToken}` },
        { method: 'GET', url: `/nowhere?invitation=${queryToken}` },
        { method: 'GET', url: `/echo/abc?n=1&token=${queryToken}` },
      ] as const;
      for (const request of sent) {
        const own = 'headers' in request ? request.headers : {};
        await app.app.inject({ ...request, headers: { ...credentials, 'x-request-id': requestId, ...own } });
      }
      const statuses = logs.lines.filter((l) => l.msg === 'request completed').map((l) => (l.res as { statusCode: number }).statusCode);
      expect(statuses).toEqual([200, 400, 400, 413, 200, 404, 200]);
      const paths = logs.lines.filter((l) => l.msg === 'incoming request').map((l) => (l.req as { path: string }).path);
      expect(paths).toEqual(['/echo', '/echo', '/echo', '/echo', '/healthz', '/nowhere', '/echo/abc']);

      const text = logs.text();
      for (const value of [cookie, bearer, csrf, password, queryToken, requestId]) expect(text).not.toContain(value);
      expect(text).not.toMatch(/token=|reset_token|invitation=|\?n=1/);
    } finally {
      await app.close();
    }
  });

  it('an unexpected error is logged with its cause under the request id', async () => {
    // The counterpart of the bare INTERNAL_ERROR: operators must still be able to find the cause.
    const logs = captureLogs();
    const app = await buildTestApp({ database: h.t, modules: [echoModule], config: { logLevel: 'info' }, logStream: logs });
    try {
      await app.app.inject({ method: 'GET', url: '/boom' });
      const failed = logs.lines.find((l) => l.msg === 'request failed');
      expect(failed).toMatchObject({ level: 50, reqId: matching(/^[0-9a-f-]{36}$/) });
      expect((failed?.err as { message: string }).message).toContain(LEAKY_KEY);
    } finally {
      await app.close();
    }
  });
});
