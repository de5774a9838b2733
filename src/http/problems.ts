import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, errorsOf, toProblem } from '../kernel/errors.ts';
import { httpErrors } from './errors.ts';
import { SECURITY_HEADERS } from './headers.ts';

const fail = errorsOf(httpErrors);

/** Fastify's own error codes that clients cause, mapped to our catalogue. */
const FASTIFY_CODES: Readonly<Record<string, keyof typeof httpErrors>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
};

function toAppError(error: FastifyError): AppError {
  if (error instanceof AppError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const errors = error.validation.map((issue) => ({
      in: error.validationContext ?? 'body',
      // `instancePath` is a JSON pointer such as /items/0/name
      path: issue.instancePath,
      message: issue.message,
    }));
    return fail('VALIDATION_FAILED', `${errors.length} field(s) are invalid`, { errors });
  }
  const mapped = FASTIFY_CODES[error.code];
  if (mapped !== undefined) return fail(mapped);
  if (error instanceof SyntaxError) return fail('MALFORMED_JSON');
  return fail('INTERNAL_ERROR', undefined, undefined, error);
}

function send(request: FastifyRequest, reply: FastifyReply, error: AppError) {
  return reply
    .code(error.status)
    .type('application/problem+json; charset=utf-8')
    .send(toProblem(error, request.url.split('?')[0] ?? '/'));
}

function handle(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const appError = toAppError(error);
  if (appError.status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.info({ code: appError.code }, 'request refused');
  return send(request, reply, appError);
}

/**
 * Every error leaves as RFC 9457 problem+json with a stable code. Internals (SQL, stacks) are
 * logged, never sent: an unexpected error is a bare INTERNAL_ERROR.
 */
export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler(handle);
  app.setNotFoundHandler((request, reply) =>
    send(request, reply, fail('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0] ?? '/'}`)),
  );
}

/**
 * Fastify's `frameworkErrors` option. The router refuses some URLs before any hook runs (a path
 * parameter with bad percent-encoding, or longer than maxParamLength); Fastify's own answer is
 * plain JSON that echoes the path, without security headers since no hook ran: they are set here.
 */
export function sendFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(SECURITY_HEADERS);
  void handle(error, request, reply);
}
