import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A secret for a link or cookie: 256 random bits, and the SHA-256 that is all we store. */
export interface IssuedToken {
  token: string;
  hash: Buffer;
}

export function issueToken(): IssuedToken {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Tokens we issue are 43 base64url characters; anything else is refused before hashing. */
export function isWellFormedToken(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);
}

/**
 * The CSRF token of a session: derived from the session token, which is HttpOnly, so a page on
 * another origin can neither read it nor compute this. Sent back in the X-CSRF-Token header.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHash('sha256').update(`palisade-csrf:${sessionToken}`, 'utf8').digest('base64url');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** E-mail as an account key: NFKC, trimmed, lower-cased. Exactly one address, nothing else. */
export function normalizeEmail(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const email = value.normalize('NFKC').trim().toLowerCase();
  // One plain address: no lists, no display names, no whitespace or control characters, and only
  // ASCII (homoglyph addresses that map onto someone else's mailbox are refused outright).
  if (email.length > 320 || !/^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/.test(email)) {
    return null;
  }
  return email;
}
