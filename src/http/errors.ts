import { defineErrors } from '../kernel/errors.ts';

/** Errors the HTTP layer itself produces, for every module. */
export const httpErrors = defineErrors({
  NOT_FOUND: { status: 404, title: 'No such resource' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this resource' },
  VALIDATION_FAILED: { status: 400, title: 'The request does not match the expected shape' },
  MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  URI_TOO_LONG: { status: 414, title: 'A path segment is too long' },
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  RATE_LIMITED: { status: 429, title: 'Too many requests; slow down' },
  INTERNAL_ERROR: { status: 500, title: 'Internal error' },
});
