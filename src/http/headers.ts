import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/**
 * Helmet's headers for an API that serves JSON: nothing may be framed, scripted or sniffed (AUTH-12).
 */
const HELMET_OPTIONS = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  },
  hsts: { maxAge: 63072000, includeSubDomains: true, preload: false },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  crossOriginResourcePolicy: { policy: 'same-origin' },
} as const;

/**
 * The headers helmet sets with these options, computed once. None of them depends on the request
 * (no CSP nonces), so running helmet's middleware on every request (as @fastify/helmet does,
 * building it anew each time) would only repeat this work: here it runs once, against a recorder.
 */
function helmetHeaders(): Readonly<Record<string, string>> {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers.set(name.toLowerCase(), Array.isArray(value) ? value.join(', ') : String(value));
    },
    removeHeader(name: string) {
      headers.delete(name.toLowerCase());
    },
  };
  const request = Object.create(null) as IncomingMessage;
  helmet(HELMET_OPTIONS)(request, recorder as unknown as ServerResponse, (error) => {
    if (error !== undefined) throw error instanceof Error ? error : new Error('helmet refused its options');
  });
  if (!headers.has('content-security-policy')) throw new Error('helmet set no Content-Security-Policy');
  return Object.freeze(Object.fromEntries(headers));
}

/** Set on every response, errors included (see src/app.ts and src/http/problems.ts). */
export const SECURITY_HEADERS = helmetHeaders();
