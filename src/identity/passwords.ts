import { randomBytes } from 'node:crypto';
import { hash as argon2Hash, parseOptions, verify as argon2Verify, type Options } from '@node-rs/argon2';
import { isCommonPassword, undoLeetspeak } from './breached.ts';

/*
 * Password policy and hashing (AUTH-1).
 *
 * Every password is NFKC-normalised before it is checked and before it is hashed. The same password
 * reaches us as different code points depending on the keyboard, IME and OS ("é" precomposed or as
 * "e" + U+0301; full-width "Ｐａｓｓ" from a Japanese IME; the "ﬁ" ligature), and argon2 hashes
 * bytes: without one normal form a user could set a password on one device and never sign in with
 * it on another. NFKC (not NFC) also folds compatibility look-alikes, so "Ｐａｓｓｗｏｒｄ１２３！"
 * cannot slip past the character-class rules or the breached list as something "new".
 * NIST SP 800-63B §5.1.1.2 asks for NFKC or NFKD for exactly these reasons.
 */

/** Minimum length in Unicode code points after NFKC (AUTH-1). */
export const PASSWORD_MIN_LENGTH = 12;

/**
 * Maximum length in code points after NFKC. Hashing cost grows with input length and a sign-in form
 * is unauthenticated, so an unbounded password is a CPU/memory denial of service.
 */
export const PASSWORD_MAX_LENGTH = 256;

/**
 * Input longer than this many UTF-16 units is refused before normalising it: NFKC can expand a
 * character up to 18-fold (U+FDFA), and we do not normalise megabytes on an attacker's behalf.
 */
const RAW_LENGTH_LIMIT = PASSWORD_MAX_LENGTH * 4;

/** A context value (e-mail local part, name, name part) shorter than this is not searched for. */
const CONTEXT_MIN_LENGTH = 3;

/** The reasons a password is refused, in the order they are reported. Stable public codes. */
export const PASSWORD_PROBLEMS = [
  'TOO_SHORT',
  'TOO_LONG',
  'INVALID_CHARACTER',
  'NEEDS_UPPER',
  'NEEDS_LOWER',
  'NEEDS_DIGIT',
  'NEEDS_SPECIAL',
  'CONTAINS_EMAIL',
  'CONTAINS_NAME',
  'BREACHED',
] as const;

export type PasswordProblem = (typeof PASSWORD_PROBLEMS)[number];

export type PasswordVerdict = { ok: true } | { ok: false; reasons: PasswordProblem[] };

/** What we know about the person choosing the password. */
export interface PasswordContext {
  email?: string | undefined;
  name?: string | undefined;
}

/** The form in which a password is checked and hashed (see the note at the top of this file). */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Length in code points: an emoji is two UTF-16 units but one character to the person typing it. */
function codePoints(text: string): number {
  // Array.from walks code points (not UTF-16 units, not graphemes): the unit AUTH-1 counts in.
  return Array.from(text).length;
}

/**
 * Lone surrogates cannot be encoded as UTF-8 (they become U+FFFD, so two different passwords would
 * hash alike); control characters come from broken clients, not keyboards.
 */
const INVALID_CHARACTER = /[\p{Cs}\p{Cc}]/u;
/** Punctuation, symbols and spaces count as special; invisible format characters do not. */
const SPECIAL = /[\p{P}\p{S}\p{Zs}]/u;

function fold(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
}

function longEnough(values: Iterable<string>): string[] {
  return [...new Set(values)].filter((v) => codePoints(v) >= CONTEXT_MIN_LENGTH);
}

/** The e-mail's local part, without a `+tag`, and its dot/dash/underscore-separated parts. */
function emailNeedles(email: string): string[] {
  const at = email.lastIndexOf('@');
  const local = fold(at === -1 ? email : email.slice(0, at));
  const untagged = local.split('+')[0] ?? local;
  return longEnough([local, untagged, ...untagged.split(/[._\-\s]+/u)]);
}

/** The whole name, the name without spaces, and each of its parts ("Ada", "Lovelace"). */
function nameNeedles(name: string): string[] {
  const whole = fold(name);
  const parts = whole.split(/[\s\p{P}]+/u);
  return longEnough([whole, parts.join(''), ...parts]);
}

/**
 * Checks a candidate password against AUTH-1. Returns a verdict instead of throwing: a weak password
 * is an expected outcome, and the caller shows every reason at once.
 *
 * Rules, on the NFKC form: 12 to 256 code points; an upper-case letter, a lower-case letter, a
 * digit and a special character (punctuation, symbol or space); no lone surrogates or control
 * characters; not containing the e-mail's local part or the person's name (or a part of either) of
 * at least 3 characters, case-insensitively and also with leetspeak undone; not on the offline
 * breached-password list, including its obvious variants ("Password123!").
 */
export function checkPasswordPolicy(password: string, context: PasswordContext): PasswordVerdict {
  if (password.length > RAW_LENGTH_LIMIT) return { ok: false, reasons: ['TOO_LONG'] };
  const normalised = normalizePassword(password);
  const problems = new Set<PasswordProblem>();
  const length = codePoints(normalised);
  if (length < PASSWORD_MIN_LENGTH) problems.add('TOO_SHORT');
  if (length > PASSWORD_MAX_LENGTH) problems.add('TOO_LONG');
  if (INVALID_CHARACTER.test(normalised)) problems.add('INVALID_CHARACTER');
  if (!/\p{Lu}/u.test(normalised)) problems.add('NEEDS_UPPER');
  if (!/\p{Ll}/u.test(normalised)) problems.add('NEEDS_LOWER');
  if (!/\p{Nd}/u.test(normalised)) problems.add('NEEDS_DIGIT');
  if (!SPECIAL.test(normalised)) problems.add('NEEDS_SPECIAL');

  const lower = normalised.toLowerCase();
  const haystacks = [lower, ...undoLeetspeak(lower)];
  const contains = (needles: string[]) => needles.some((n) => haystacks.some((h) => h.includes(n)));
  if (context.email !== undefined && contains(emailNeedles(context.email))) problems.add('CONTAINS_EMAIL');
  if (context.name !== undefined && contains(nameNeedles(context.name))) problems.add('CONTAINS_NAME');
  if (isCommonPassword(normalised)) problems.add('BREACHED');

  if (problems.size === 0) return { ok: true };
  return { ok: false, reasons: PASSWORD_PROBLEMS.filter((p) => problems.has(p)) };
}

/** argon2id cost parameters, as in the PHC string (`m=…,t=…,p=…`). */
export interface PasswordHasherOptions {
  /**
   * Memory per hash in KiB.
   * @default 19456
   */
  memoryCost?: number;
  /**
   * Passes over the memory.
   * @default 2
   */
  timeCost?: number;
  /**
   * Lanes.
   * @default 1
   */
  parallelism?: number;
}

/**
 * OWASP Password Storage Cheat Sheet, argon2id: the first of its equivalent configurations
 * (m=19 MiB, t=2, p=1). The defaults; configuration may raise them.
 */
export const OWASP_ARGON2ID = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const satisfies Required<PasswordHasherOptions>;

export interface PasswordHasher {
  /** The parameters new hashes are made with. */
  readonly params: Readonly<Required<PasswordHasherOptions>>;
  /** argon2id PHC string of the NFKC form of `password`, with a fresh 16-byte salt. */
  hash(password: string): Promise<string>;
  /** Whether `password` matches `hash`; false (never a throw) for a malformed or foreign hash. */
  verify(hash: string, password: string): Promise<boolean>;
  /** Whether `hash` was made with other parameters than {@link PasswordHasher.params} (or is unreadable). */
  needsRehash(hash: string): boolean;
  /**
   * Spends the time of one {@link PasswordHasher.verify} against a hash with the current parameters,
   * and returns false. Call it when the e-mail is unknown, so a sign-in does not reveal which
   * accounts exist by answering faster.
   */
  dummyVerify(password: string): Promise<false>;
}

/*
 * The binding's `Algorithm` and `Version` are ambient const enums, which isolatedModules cannot
 * read (and the binding exports no object for them), so the algorithm is left to its documented
 * default, argon2id v0x13. The PHC prefix below is what proves it: needsRehash flags any other
 * prefix, and the tests parse it, so a change of default cannot silently weaken new hashes.
 */
const PHC_PREFIX = '$argon2id$v=19$';
const OUTPUT_BYTES = 32;
const SALT_BYTES = 16;

function integerIn(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

/** The NFKC form of a password we are willing to hash, or undefined for one we never would. */
function hashable(password: string): string | undefined {
  if (password.length > RAW_LENGTH_LIMIT) return undefined;
  const normalised = normalizePassword(password);
  const length = codePoints(normalised);
  if (length === 0 || length > PASSWORD_MAX_LENGTH || /\p{Cs}/u.test(normalised)) return undefined;
  return normalised;
}

/**
 * Creates an argon2id hasher (RFC 9106) with configurable cost. Lower costs than OWASP's are
 * accepted (tests, small machines); configuration should refuse them in production.
 */
export function createPasswordHasher(options: PasswordHasherOptions = {}): PasswordHasher {
  const {
    memoryCost = OWASP_ARGON2ID.memoryCost,
    timeCost = OWASP_ARGON2ID.timeCost,
    parallelism = OWASP_ARGON2ID.parallelism,
  } = options;
  // Bounds from RFC 9106 §3.1: p in 1..2^24-1 (the binding takes 1..255), m ≥ 8p KiB; 4 GiB and
  // 100 passes are sanity caps against a typo that would stall every sign-in.
  integerIn('parallelism', parallelism, 1, 255);
  integerIn('memoryCost', memoryCost, 8 * parallelism, 4 * 1024 * 1024);
  integerIn('timeCost', timeCost, 1, 100);
  const params = Object.freeze({ memoryCost, timeCost, parallelism });
  const argon2Options: Options = {
    memoryCost,
    timeCost,
    parallelism,
    outputLen: OUTPUT_BYTES,
  };

  const verify = async (stored: string, password: string): Promise<boolean> => {
    const normalised = hashable(password);
    if (normalised === undefined) return false;
    try {
      return await argon2Verify(stored, normalised);
    } catch {
      // A malformed, truncated or foreign hash is a "no", not a 500 on the sign-in route.
      return false;
    }
  };

  let dummyHash: Promise<string> | undefined;
  const dummy = (): Promise<string> => {
    // Made on first use (not at construction) so creating a hasher costs nothing; a random
    // password nobody knows, hashed with the current parameters so it costs what a real one does.
    dummyHash ??= argon2Hash(randomBytes(32), argon2Options).catch((error: unknown) => {
      dummyHash = undefined;
      throw error;
    });
    return dummyHash;
  };

  return {
    params,
    async hash(password) {
      const normalised = hashable(password);
      if (normalised === undefined) {
        throw new RangeError(
          `a password to hash must be 1 to ${PASSWORD_MAX_LENGTH} code points of well-formed text; check the policy first`,
        );
      }
      return argon2Hash(normalised, argon2Options);
    },
    verify,
    needsRehash(stored) {
      let parsed: ReturnType<typeof parseOptions>;
      try {
        parsed = parseOptions(stored);
      } catch {
        return true;
      }
      return (
        !stored.startsWith(PHC_PREFIX) ||
        parsed.memoryCost !== memoryCost ||
        parsed.timeCost !== timeCost ||
        parsed.parallelism !== parallelism ||
        parsed.outputLen !== OUTPUT_BYTES ||
        parsed.saltLen < SALT_BYTES
      );
    },
    async dummyVerify(password) {
      await verify(await dummy(), password);
      return false;
    },
  };
}
