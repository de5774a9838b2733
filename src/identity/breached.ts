import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

/*
 * Breached-password checks (AUTH-1): an offline list that always applies, and an optional online
 * k-anonymity lookup in the Have I Been Pwned "range" protocol.
 *
 * The offline list is the `passwords-common` dictionary of @zxcvbn-ts/language-common (49,233
 * passwords ranked by frequency in public leaks, all lower case). It ships in the npm package, so a
 * sign-up on a machine without network access is still checked.
 */

/** The package that ships the offline list, and the smallest list we accept from it. */
const LIST_PACKAGE = '@zxcvbn-ts/language-common';
const LIST_KEY = 'passwords-common';
const LIST_MIN_SIZE = 10_000;

let commonPasswords: ReadonlySet<string> | undefined;

/**
 * The offline list, loaded on first use: the package decompresses ~50k words when it is loaded, and
 * a process that never checks a password (the CLI, a worker) should not pay for that at import.
 * A synchronous `require` keeps the policy check synchronous; the list is immutable, so one copy per
 * process is safe to share.
 */
function loadCommonPasswords(): ReadonlySet<string> {
  if (commonPasswords !== undefined) return commonPasswords;
  const loaded: unknown = createRequire(import.meta.url)(LIST_PACKAGE);
  const words = listOf(loaded);
  // A package update that renamed or emptied the dictionary must fail loudly, not silently let
  // every leaked password through.
  if (words === undefined || words.length < LIST_MIN_SIZE) {
    throw new Error(
      `${LIST_PACKAGE} no longer exports dictionary['${LIST_KEY}'] with at least ${LIST_MIN_SIZE} strings`,
    );
  }
  commonPasswords = new Set(words.map((w) => w.normalize('NFKC').toLowerCase()));
  return commonPasswords;
}

function listOf(module: unknown): string[] | undefined {
  if (typeof module !== 'object' || module === null || !('dictionary' in module)) return undefined;
  const dictionary: unknown = module.dictionary;
  if (typeof dictionary !== 'object' || dictionary === null || !(LIST_KEY in dictionary)) return undefined;
  const words: unknown = (dictionary as Record<string, unknown>)[LIST_KEY];
  if (!Array.isArray(words) || !words.every((w): w is string => typeof w === 'string')) return undefined;
  return words;
}

/** How many distinct passwords the offline list holds (loads it). */
export function commonPasswordCount(): number {
  return loadCommonPasswords().size;
}

/**
 * Leetspeak substitutions undone before the lookup. `1` reads as `l` or `i`, so both spellings are
 * tried; the others have one usual reading. `!` only matters inside a word: at the end it is
 * stripped as a symbol first.
 */
const LEET: Readonly<Record<string, string>> = {
  '0': 'o',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '@': 'a',
  $: 's',
  '!': 'i',
};
const LEET_CHARS = /[013457@$!]/g;

function unleet(text: string, one: 'l' | 'i'): string {
  return text.replace(LEET_CHARS, (c) => (c === '1' ? one : (LEET[c] ?? c)));
}

/**
 * `text` with common leetspeak undone, in both readings of `1` ("p@ssw0rd" → "password"). Used to
 * find a name or e-mail hidden in a password as well as list words.
 */
export function undoLeetspeak(text: string): [string, string] {
  return [unleet(text, 'l'), unleet(text, 'i')];
}

/**
 * How many characters of a leading or trailing run of non-letters may still belong to the word
 * ("Hell0123!" is "hell0" + "123!"). Bounding it keeps the number of lookups small (at most
 * 4 × 4 × 3) whatever the input.
 */
const KEEP_FROM_RUN = 3;

/** Where the word part of `text` may start and end: letters inside, non-letters outside. */
function cutPoints(text: string): { starts: number[]; ends: number[] } {
  // Code points, so a cut never splits a surrogate pair.
  const chars = Array.from(text);
  let first = 0;
  while (first < chars.length && !/\p{L}/u.test(chars[first] ?? '')) first += 1;
  let last = chars.length;
  while (last > first && !/\p{L}/u.test(chars[last - 1] ?? '')) last -= 1;
  const starts: number[] = [];
  for (let s = first; s >= Math.max(0, first - KEEP_FROM_RUN); s -= 1) starts.push(s);
  const ends: number[] = [];
  for (let e = last; e <= Math.min(chars.length, last + KEEP_FROM_RUN); e += 1) ends.push(e);
  return { starts, ends };
}

/**
 * The spellings of `password` looked up in the list: the whole password, and its word part with up
 * to three characters of the digits/symbols around it kept, each as typed and with leetspeak
 * undone. Users meet "upper, lower, digit, special" by capitalising a common word and appending
 * "123!" ("Password123!", "P@ssw0rd2024!", "Welcome2024!!"), which an exact lookup never catches.
 */
export function breachCandidates(password: string): Set<string> {
  const lower = password.normalize('NFKC').toLowerCase();
  const chars = Array.from(lower);
  const candidates = new Set<string>([lower, unleet(lower, 'l'), unleet(lower, 'i')]);
  const { starts, ends } = cutPoints(lower);
  for (const start of starts) {
    for (const end of ends) {
      if (end <= start) continue;
      const core = chars.slice(start, end).join('');
      candidates.add(core);
      candidates.add(unleet(core, 'l'));
      candidates.add(unleet(core, 'i'));
    }
  }
  return candidates;
}

/**
 * Whether `password` is on the offline breached/common list, exactly (case-insensitively) or as one
 * of the obvious variants in {@link breachCandidates}. Works offline; loads the list on first call.
 */
export function isCommonPassword(password: string): boolean {
  const list = loadCommonPasswords();
  for (const candidate of breachCandidates(password)) {
    if (list.has(candidate)) return true;
  }
  return false;
}

export type PwnedVerdict = 'breached' | 'clean' | 'unavailable';

export interface PwnedRangeCheckerOptions {
  /** Where the range API lives, e.g. `https://api.pwnedpasswords.com`; `/range/{prefix}` is appended. */
  baseUrl: string;
  /**
   * Budget for the whole exchange (connect, headers and body), in milliseconds.
   * @default 1500
   */
  timeoutMs?: number;
  /**
   * The fetch implementation (tests, proxies).
   * @default globalThis.fetch
   */
  fetch?: typeof globalThis.fetch;
}

/** A range response is at most a few thousand short lines; a larger body is not the range API. */
const MAX_RANGE_BODY_BYTES = 1024 * 1024;
const RANGE_LINE = /^([0-9A-F]{35}):(\d+)$/i;

/**
 * Returns a checker that asks a Have I Been Pwned compatible range API whether a password appears
 * in known breaches, using k-anonymity: only the first 5 hex digits of the password's SHA-1 leave
 * the process (never the password or the full hash), and `Add-Padding: true` asks the server to pad
 * the response so its size does not reveal the prefix's bucket either.
 *
 * The answer is `'unavailable'` on a timeout, a network error, a non-2xx status or a body that is
 * not a range response; the caller chooses fail-open or fail-closed. Sign-up should fail OPEN with a
 * warning log line: the offline list ({@link isCommonPassword}) has already applied, and an outage
 * of a third-party service must not stop people from signing up.
 *
 * The password is NFKC-normalised before hashing, as it is for storage, so the lookup concerns the
 * password we would actually keep.
 */
export function createPwnedRangeChecker(options: PwnedRangeCheckerOptions): (password: string) => Promise<PwnedVerdict> {
  const { baseUrl, timeoutMs = 1500, fetch = globalThis.fetch } = options;
  if (!/^https?:\/\//.test(baseUrl)) throw new Error(`baseUrl must be an http(s) URL, got ${JSON.stringify(baseUrl)}`);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error(`timeoutMs must be a positive integer, got ${timeoutMs}`);
  const root = baseUrl.replace(/\/+$/, '');

  return async (password) => {
    const digest = createHash('sha1').update(password.normalize('NFKC'), 'utf8').digest('hex').toUpperCase();
    const prefix = digest.slice(0, 5);
    const suffix = digest.slice(5);
    let body: string;
    try {
      const response = await fetch(`${root}/range/${prefix}`, {
        headers: { 'Add-Padding': 'true', Accept: 'text/plain' },
        // The configured host is the only one trusted with even the prefix.
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) {
        await response.body?.cancel();
        return 'unavailable';
      }
      const text = await readCapped(response, MAX_RANGE_BODY_BYTES);
      if (text === undefined) return 'unavailable';
      body = text;
    } catch {
      // Timeout, refused connection, TLS failure, redirect: all mean "could not ask".
      return 'unavailable';
    }
    let breached = false;
    for (const raw of body.split('\n')) {
      const line = raw.trim();
      if (line === '') continue;
      const match = RANGE_LINE.exec(line);
      // A captive portal or error page answering 200 must not read as "clean".
      if (match === null) return 'unavailable';
      const [, lineSuffix = '', count = '0'] = match;
      // Padding lines are random suffixes with a count of 0: they are not breaches.
      if (lineSuffix.toUpperCase() === suffix && Number(count) > 0) breached = true;
    }
    return breached ? 'breached' : 'clean';
  };
}

async function readCapped(response: Response, maxBytes: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const result = await reader.read();
    if (result.done) break;
    // undici types the body's chunks as `any`; they are bytes.
    const value: unknown = result.value;
    if (!(value instanceof Uint8Array)) return undefined;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
