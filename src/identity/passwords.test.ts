import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { breachCandidates, commonPasswordCount, createPwnedRangeChecker, isCommonPassword } from './breached.ts';
import {
  OWASP_ARGON2ID,
  PASSWORD_MAX_LENGTH,
  PASSWORD_PROBLEMS,
  checkPasswordPolicy,
  createPasswordHasher,
  type PasswordHasher,
} from './passwords.ts';

const ada = { email: 'ada.lovelace@example.com', name: 'Ada Lovelace' };

/**
 * `count` strong passwords (16 characters, every class), derived from SHA-512 so the test is the
 * same on every run: what a password manager would generate.
 */
function generatedPasswords(count: number): string[] {
  const classes = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!#$%&*+-=?@^_~'];
  const all = classes.join('');
  return Array.from({ length: count }, (_, i) => {
    const bytes = createHash('sha512').update(`palisade-generated-${i}`).digest();
    const pick = (set: string, at: number) => set.charAt((bytes[at] ?? 0) % set.length);
    return [...classes.map((set, k) => pick(set, k)), ...Array.from({ length: 12 }, (_unused, k) => pick(all, 4 + k))].join('');
  });
}

describe('AUTH-1 password policy: length and character classes', () => {
  it.each(['vT9#qLm2$Wx8!pZr', 'Tr0ub4dor&3xx', 'Purple-Monkey-Dishwasher-42', 'correct horse Battery 9', 'Zx9!mQ4#tR7$'])(
    'accepts the strong password %j',
    (password) => {
      // The rules refuse weak passwords, not long random or passphrase ones.
      expect(checkPasswordPolicy(password, ada)).toEqual({ ok: true });
    },
  );

  it('accepts 200 generated passwords', () => {
    // A policy that refuses what password managers generate pushes people to weaker ones.
    const refused = generatedPasswords(200).flatMap((p) => {
      const verdict = checkPasswordPolicy(p, ada);
      return verdict.ok ? [] : [`${p}: ${verdict.reasons.join(',')}`];
    });
    expect(refused).toEqual([]);
  });

  it.each([
    ['Zq7#vRm2xTb', ['TOO_SHORT']],
    ['zq7#vrm2xtbk', ['NEEDS_UPPER']],
    ['ZQ7#VRM2XTBK', ['NEEDS_LOWER']],
    ['Zqa#vRmbxTbk', ['NEEDS_DIGIT']],
    ['Zq7yvRm2xTbk', ['NEEDS_SPECIAL']],
    ['zq', ['TOO_SHORT', 'NEEDS_UPPER', 'NEEDS_DIGIT', 'NEEDS_SPECIAL']],
    ['', ['TOO_SHORT', 'NEEDS_UPPER', 'NEEDS_LOWER', 'NEEDS_DIGIT', 'NEEDS_SPECIAL']],
  ] as const)('refuses %j with %j', (password, reasons) => {
    // Each AUTH-1 rule is enforced on its own and reported with its stable code.
    expect(checkPasswordPolicy(password, {})).toEqual({ ok: false, reasons });
  });

  it('reports every problem at once, in the catalogue order', () => {
    // Clients render reasons by code; a stable order keeps the UI and tests deterministic.
    const verdict = checkPasswordPolicy('password', {});
    expect(verdict).toEqual({ ok: false, reasons: ['TOO_SHORT', 'NEEDS_UPPER', 'NEEDS_DIGIT', 'NEEDS_SPECIAL', 'BREACHED'] });
    if (!verdict.ok) expect(verdict.reasons.every((r) => PASSWORD_PROBLEMS.includes(r))).toBe(true);
  });

  it('counts code points, not UTF-16 units', () => {
    // 5 characters and 6 emoji are 17 UTF-16 units but 11 code points: too short.
    expect(checkPasswordPolicy('Zq7#v😀😀😀😀😀😀', {})).toEqual({ ok: false, reasons: ['TOO_SHORT'] });
    expect(checkPasswordPolicy('Zq7#vRm😀😀😀😀😀', {})).toEqual({ ok: true });
  });

  it('caps the length at 256 code points', () => {
    // argon2 cost grows with input, and sign-in is unauthenticated: no unbounded passwords.
    const base = 'Zq7#vRm2xTbk';
    const at = (n: number) => base + 'x'.repeat(n - base.length);
    expect(checkPasswordPolicy(at(PASSWORD_MAX_LENGTH), {})).toEqual({ ok: true });
    expect(checkPasswordPolicy(at(PASSWORD_MAX_LENGTH + 1), {})).toEqual({ ok: false, reasons: ['TOO_LONG'] });
    expect(checkPasswordPolicy(base + '😀'.repeat(PASSWORD_MAX_LENGTH - base.length), {})).toEqual({ ok: true });
  });

  it('refuses a huge input before normalising it', () => {
    // NFKC can expand one character 18-fold; a megabyte of U+FDFA must not be normalised for an attacker.
    expect(checkPasswordPolicy('\uFDFA'.repeat(1_000_000), {})).toEqual({ ok: false, reasons: ['TOO_LONG'] });
  });

  it('refuses lone surrogates and control characters', () => {
    // A lone surrogate becomes U+FFFD in UTF-8, so two different passwords would share a hash.
    expect(checkPasswordPolicy('Zq7#vRm2xTbk\uD800', {})).toEqual({ ok: false, reasons: ['INVALID_CHARACTER'] });
    expect(checkPasswordPolicy('Zq7#vRm2xTbk\u0000', {})).toEqual({ ok: false, reasons: ['INVALID_CHARACTER'] });
  });

  it('checks the NFKC form', () => {
    // Full-width input from an IME must meet the same rules, and a compatibility look-alike of a
    // leaked password is the same leaked password.
    expect(checkPasswordPolicy('Ｚｑ７＃ｖＲｍ２ｘＴｂｋ', {})).toEqual({ ok: true });
    expect(checkPasswordPolicy('Ｐａｓｓｗｏｒｄ１２３！', {})).toEqual({ ok: false, reasons: ['BREACHED'] });
    // U+2460 (circled 1) is not a decimal digit, but its NFKC form "1" is.
    expect(checkPasswordPolicy('Zqa#vRmbxTbk\u2460', {})).toEqual({ ok: true });
  });
});

describe('AUTH-1 password policy: personal information', () => {
  it.each([
    ['Xq!9v-ada.lovelace', 'the whole local part'],
    ['Xq!9v-ADA.LOVELACE', 'the local part in another case'],
    ['Xq!9vR#Lovelace', 'a part of the local part'],
    ['Xq!9vR#L0v3l@ce', 'a part in leetspeak'],
  ])('refuses %j (%s)', (password) => {
    // A password built from the e-mail address is the first guess of anyone who knows the address.
    expect(checkPasswordPolicy(password, { email: ada.email })).toEqual({ ok: false, reasons: ['CONTAINS_EMAIL'] });
  });

  it('ignores a +tag and uses the part before the last @', () => {
    // The tag is chosen by the user and changes nothing about which words an attacker tries.
    expect(checkPasswordPolicy('Xq!9vR#Grace7', { email: 'grace+work@example.com' })).toEqual({ ok: false, reasons: ['CONTAINS_EMAIL'] });
    expect(checkPasswordPolicy('Xq!9vR#"we@ird"7', { email: '"we@ird"@example.com' })).toEqual({ ok: false, reasons: ['CONTAINS_EMAIL'] });
  });

  it('does not search for a local part or name shorter than 3 characters', () => {
    // Two letters appear in most passwords by chance; refusing them would refuse nearly everything.
    expect(checkPasswordPolicy('Xq!9vR#jo7Lmk', { email: 'jo@example.com', name: 'Jo Li' })).toEqual({ ok: true });
  });

  it.each([
    ['Xq!9vR#AdaLovelace', 'the whole name without the space'],
    ['Xq!9vR# ada lovelace', 'the whole name'],
    ['Xq!9vR#lovelace7', 'the family name'],
    ['Xq!9vR#@d@7Lmk', 'the given name in leetspeak'],
  ])('refuses %j (%s)', (password) => {
    // The name is on every profile page and e-mail signature: it is public, not secret.
    expect(checkPasswordPolicy(password, { name: ada.name })).toEqual({ ok: false, reasons: ['CONTAINS_NAME'] });
  });
});

describe('AUTH-1 offline breached-password list', () => {
  it('loads a real list of tens of thousands of leaked passwords', () => {
    // An empty or renamed list would silently let every leaked password through.
    expect(commonPasswordCount()).toBeGreaterThan(40_000);
  });

  it.each(['password', 'PASSWORD', 'qwerty', 'iloveyou', 'trustno1', 'letmein', 'qwerty123456', 'p@ssw0rd'])(
    'knows %j, case-insensitively',
    (word) => {
      // Capitalising a leaked password does not make it unknown to a cracker's wordlist.
      expect(isCommonPassword(word)).toBe(true);
    },
  );

  it.each([
    'Password123!',
    'P@ssw0rd2024!',
    'Qwerty123456!',
    'Welcome2024!!',
    'Summer2024!!',
    'Iloveyou2024!',
    'Dragon$$1234',
    '!1Letmein2020',
    'Hell0World99!',
    'Trustno1!2024',
    'M0nk3y12345!',
  ])('refuses %j, which meets every class rule', (password) => {
    // "Capitalise a common word, append digits and a symbol" is the first rule every cracker tries.
    expect(checkPasswordPolicy(password, {})).toEqual({ ok: false, reasons: ['BREACHED'] });
  });

  it('undoes leetspeak in both readings of 1', () => {
    // Crackers apply these substitutions first, so "P@55w0rd" is as leaked as "password".
    expect(breachCandidates('P@55w0rd')).toContain('password');
    expect(breachCandidates('1nterl1nk')).toContain('interlink');
    expect(breachCandidates('1nterl1nk')).toContain('lnterllnk');
  });

  it('bounds the number of lookups whatever the input', () => {
    // The candidates grow with the runs kept around the word, never with the input length.
    expect(breachCandidates('1'.repeat(1000) + 'Word' + '!'.repeat(1000)).size).toBeLessThanOrEqual(51);
  });
});

/** What the fake range server saw of one request. */
interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

function sha1(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex').toUpperCase();
}

/** Random-looking padding suffixes with a count of 0, as the real API adds with Add-Padding. */
function padding(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${sha1(`pad-${prefix}-${i}`).slice(0, 35)}:0`);
}

describe('AUTH-1 online breached check (k-anonymity range API)', () => {
  const leaked = new Map([
    ['Tr0ub4dor&3xx', 37],
    ['correct horse battery staple', 142],
  ]);
  /** A clean password whose suffix the server lists as padding only. */
  const paddedClean = 'Zx9!mQ4#tR7$';
  let behaviour: 'normal' | 'lowercase' | 'slow' | 'error' | 'html' = 'normal';
  const received: Received[] = [];
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        if (behaviour === 'slow') {
          const timer = setTimeout(() => res.end(''), 10_000);
          res.on('close', () => {
            clearTimeout(timer);
          });
          return;
        }
        if (behaviour === 'error') {
          res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
          return;
        }
        if (behaviour === 'html') {
          res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Sign in to the Wi-Fi</body></html>');
          return;
        }
        const match = /^\/range\/([0-9A-F]{5})$/.exec(req.url ?? '');
        if (match === null) {
          res.writeHead(404).end();
          return;
        }
        const prefix = match[1] ?? '';
        const lines = [...leaked].flatMap(([password, count]) =>
          sha1(password).startsWith(prefix) ? [`${sha1(password).slice(5)}:${count}`] : [],
        );
        if (sha1(paddedClean).startsWith(prefix)) lines.push(`${sha1(paddedClean).slice(5)}:0`);
        lines.push(...padding(prefix, 20));
        lines.sort();
        const text = lines.map((l) => (behaviour === 'lowercase' ? l.toLowerCase() : l)).join('\r\n');
        res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as AddressInfo;
    baseUrl = `http://127.0.0.1:${address.port}`;
  });

  afterEach(() => {
    behaviour = 'normal';
    received.length = 0;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => {
      server.close((error) => {
        if (error) reject(error);
        else resolve();
      });
    });
  });

  it('sends only the first 5 hex digits of the SHA-1, with Add-Padding', async () => {
    // k-anonymity: the service must learn neither the password nor its full hash.
    const check = createPwnedRangeChecker({ baseUrl, timeoutMs: 5000 });
    const password = 'Tr0ub4dor&3xx';
    const digest = sha1(password);
    expect(await check(password)).toBe('breached');
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.method).toBe('GET');
    expect(request?.url).toBe(`/range/${digest.slice(0, 5)}`);
    expect(request?.headers['add-padding']).toBe('true');
    expect(request?.body).toBe('');
    const seen = JSON.stringify(request).toUpperCase();
    expect(seen).not.toContain(digest.slice(5, 15));
    expect(seen).not.toContain(password.toUpperCase());
  });

  it('reads a listed suffix as breached and an unlisted one as clean', async () => {
    // Only a suffix listed with a count above 0 in the prefix's bucket is a breach.
    const check = createPwnedRangeChecker({ baseUrl: `${baseUrl}/`, timeoutMs: 5000 });
    expect(await check('correct horse battery staple')).toBe('breached');
    expect(await check('vT9#qLm2$Wx8!pZr')).toBe('clean');
  });

  it('ignores padding lines with a count of 0', async () => {
    // Padding suffixes are noise added by the server; one may even equal ours by chance.
    const check = createPwnedRangeChecker({ baseUrl, timeoutMs: 5000 });
    expect(await check(paddedClean)).toBe('clean');
  });

  it('compares suffixes case-insensitively', async () => {
    // The protocol does not fix the case of hex digits; a case mismatch must not hide a breach.
    behaviour = 'lowercase';
    const check = createPwnedRangeChecker({ baseUrl, timeoutMs: 5000 });
    expect(await check('Tr0ub4dor&3xx')).toBe('breached');
  });

  it('hashes the NFKC form, as it is stored', async () => {
    // A full-width spelling of a leaked password is looked up as the password we would keep.
    const check = createPwnedRangeChecker({ baseUrl, timeoutMs: 5000 });
    expect(await check('Ｔｒ０ｕｂ４ｄｏｒ＆３ｘｘ')).toBe('breached');
    expect(received[0]?.url).toBe(`/range/${sha1('Tr0ub4dor&3xx').slice(0, 5)}`);
  });

  it('uses the fetch it is given', async () => {
    // An injected fetch (proxy, tracing) still receives only the prefix URL.
    const urls: string[] = [];
    const check = createPwnedRangeChecker({
      baseUrl,
      timeoutMs: 5000,
      fetch: (input, init) => {
        urls.push(input instanceof Request ? input.url : input.toString());
        return globalThis.fetch(input, init);
      },
    });
    expect(await check('Tr0ub4dor&3xx')).toBe('breached');
    expect(urls).toEqual([`${baseUrl}/range/${sha1('Tr0ub4dor&3xx').slice(0, 5)}`]);
  });

  it('answers unavailable when the server is too slow', async () => {
    // A hanging third party must not hang sign-up; the caller decides what unavailable means.
    behaviour = 'slow';
    const check = createPwnedRangeChecker({ baseUrl, timeoutMs: 200 });
    expect(await check('Tr0ub4dor&3xx')).toBe('unavailable');
  });

  it('answers unavailable on a 500', async () => {
    // An error status is "could not ask", never "clean".
    behaviour = 'error';
    const check = createPwnedRangeChecker({ baseUrl, timeoutMs: 5000 });
    expect(await check('Tr0ub4dor&3xx')).toBe('unavailable');
  });

  it('answers unavailable when a 200 is not a range response', async () => {
    // A captive portal or proxy page answering 200 must not read as "not breached".
    behaviour = 'html';
    const check = createPwnedRangeChecker({ baseUrl, timeoutMs: 5000 });
    expect(await check('Tr0ub4dor&3xx')).toBe('unavailable');
  });

  it('answers unavailable when nothing listens', async () => {
    // A refused connection is "could not ask", never "clean".
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => {
      closed.close(() => {
        resolve();
      });
    });
    const check = createPwnedRangeChecker({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 5000 });
    expect(await check('Tr0ub4dor&3xx')).toBe('unavailable');
  });

  it('refuses a base URL that is not http(s) and a timeout that is not positive', () => {
    // A timeout of 0 or a file: URL is a configuration mistake to catch at startup, not at sign-up.
    expect(() => createPwnedRangeChecker({ baseUrl: 'ftp://example.com' })).toThrow(/baseUrl must be an http\(s\) URL/);
    expect(() => createPwnedRangeChecker({ baseUrl, timeoutMs: 0 })).toThrow(/timeoutMs must be a positive integer, got 0/);
  });
});

/** The fields of an argon2 PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash (unpadded base64). */
function parsePhc(phc: string) {
  const match = /^\$(argon2(?:id|i|d))\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(phc);
  if (match === null) throw new Error(`not an argon2 PHC string: ${phc}`);
  const [, algorithm = '', version, m, t, p, salt = '', hash = ''] = match;
  return {
    algorithm,
    version: Number(version),
    memoryCost: Number(m),
    timeCost: Number(t),
    parallelism: Number(p),
    saltBytes: Buffer.from(salt, 'base64').length,
    hashBytes: Buffer.from(hash, 'base64').length,
  };
}

/**
 * How far apart the costs of `a` and `b` are, from 0 (equal) towards 1: the median of the ratios of
 * `samples` back-to-back pairs, so a pair shares whatever load the machine has at that moment, with
 * the order alternated to spread drift (GC, a neighbour's burst) over both sides. No absolute time
 * is asserted anywhere.
 */
async function costDifference(a: () => Promise<unknown>, b: () => Promise<unknown>, samples: number): Promise<number> {
  await a();
  await b();
  const time = async (fn: () => Promise<unknown>) => {
    const start = performance.now();
    await fn();
    return performance.now() - start;
  };
  const ratios: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    let ta: number;
    let tb: number;
    if (i % 2 === 0) {
      ta = await time(a);
      tb = await time(b);
    } else {
      tb = await time(b);
      ta = await time(a);
    }
    ratios.push(ta / Math.max(tb, Number.EPSILON));
  }
  ratios.sort((x, y) => x - y);
  const median = ratios[Math.floor(ratios.length / 2)] ?? Number.NaN;
  return 1 - Math.min(median, 1 / median);
}

/**
 * Whether `check` holds for at least one of `attempts` measurements. A real difference in work
 * (a dummy that skips argon2, or 6× the passes) shows in every measurement; a burst of load on a
 * shared 2-core machine rarely spoils several in a row.
 */
async function inSomeAttempt(attempts: number, measure: () => Promise<number>, check: (d: number) => boolean): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < attempts; i += 1) {
    seen.push(await measure());
    if (check(seen.at(-1) ?? Number.NaN)) break;
  }
  return seen;
}

describe('AUTH-1 password hashing (argon2id)', () => {
  let hasher: PasswordHasher;
  let stored: string;
  const password = 'Tr0ub4dor&3xx';

  beforeAll(async () => {
    hasher = createPasswordHasher();
    stored = await hasher.hash(password);
  });

  it('defaults to at least OWASP argon2id (m=19456 KiB, t=2, p=1)', () => {
    // A hasher created without options must never be weaker than the current recommendation.
    expect(hasher.params.memoryCost).toBeGreaterThanOrEqual(19_456);
    expect(hasher.params.timeCost).toBeGreaterThanOrEqual(2);
    expect(hasher.params.parallelism).toBeGreaterThanOrEqual(1);
    expect(hasher.params).toEqual(OWASP_ARGON2ID);
  });

  it('writes argon2id v=19 with the configured parameters, a 16-byte salt and a 32-byte hash', async () => {
    // The PHC string is what lands in the database: it must say argon2id and the cost we asked for.
    expect(parsePhc(stored)).toEqual({ algorithm: 'argon2id', version: 19, ...OWASP_ARGON2ID, saltBytes: 16, hashBytes: 32 });
    const custom = createPasswordHasher({ memoryCost: 8192, timeCost: 3, parallelism: 2 });
    expect(parsePhc(await custom.hash(password))).toEqual({
      algorithm: 'argon2id',
      version: 19,
      memoryCost: 8192,
      timeCost: 3,
      parallelism: 2,
      saltBytes: 16,
      hashBytes: 32,
    });
  });

  it('salts every hash', async () => {
    // Equal passwords must not produce equal hashes, or one cracked row cracks them all.
    expect(await hasher.hash(password)).not.toBe(stored);
  });

  it('verifies the right password and refuses others', async () => {
    // Only the exact password signs in: not another case, not a trailing space, not nothing.
    expect(await hasher.verify(stored, password)).toBe(true);
    expect(await hasher.verify(stored, 'tr0ub4dor&3xx')).toBe(false);
    expect(await hasher.verify(stored, `${password} `)).toBe(false);
    expect(await hasher.verify(stored, '')).toBe(false);
  });

  it('verifies NFKC-equivalent spellings of the password', async () => {
    // The same password typed on another keyboard or OS must still sign in.
    expect(await hasher.verify(stored, 'Ｔｒ０ｕｂ４ｄｏｒ＆３ｘｘ')).toBe(true);
    const composed = await hasher.hash('Caf\u00e9-Zq7#vRm2');
    expect(await hasher.verify(composed, 'Cafe\u0301-Zq7#vRm2')).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['not a hash', 'garbage'],
    ['a bcrypt hash', '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'],
    ['an argon2 hash with a bad salt and output', '$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB'],
    ['an argon2 hash without its output', '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA'],
    ['an argon2 hash with an impossible cost', '$argon2id$v=19$m=1,t=0,p=0$c29tZXNhbHRzb21lc2FsdA$c29tZWhhc2g'],
  ])('answers false, without throwing, for a malformed hash (%s)', async (_label, malformed) => {
    // A corrupt row must fail the sign-in, not crash the route with a 500 that reveals it.
    await expect(hasher.verify(malformed, password)).resolves.toBe(false);
  });

  it('answers false for a truncated or altered real hash', async () => {
    // A damaged row must never match, whether its output was cut short or a character changed.
    await expect(hasher.verify(stored.slice(0, -10), password)).resolves.toBe(false);
    const last = stored.at(-2) === 'A' ? 'B' : 'A';
    await expect(hasher.verify(`${stored.slice(0, -2)}${last}${stored.slice(-1)}`, password)).resolves.toBe(false);
  });

  it('answers false for a password it would never hash', async () => {
    // Overlong input is refused before argon2 runs, so sign-in cannot be made to hash megabytes.
    await expect(hasher.verify(stored, 'x'.repeat(PASSWORD_MAX_LENGTH + 1))).resolves.toBe(false);
    await expect(hasher.verify(stored, 'Zq7#vRm2xTbk\uD800')).resolves.toBe(false);
  });

  it('refuses to hash an empty, overlong or ill-formed password', async () => {
    // The policy is the gate; reaching the hasher with such input is a bug, not a user error.
    await expect(hasher.hash('')).rejects.toThrow(RangeError);
    await expect(hasher.hash('x'.repeat(PASSWORD_MAX_LENGTH + 1))).rejects.toThrow(RangeError);
    await expect(hasher.hash('Zq7#vRm2xTbk\uDC00')).rejects.toThrow(RangeError);
  });

  it('asks for a rehash when the parameters or algorithm differ', () => {
    // Raising the cost in configuration must upgrade existing hashes at their next sign-in.
    expect(hasher.needsRehash(stored)).toBe(false);
    expect(createPasswordHasher({ memoryCost: 65_536 }).needsRehash(stored)).toBe(true);
    expect(createPasswordHasher({ timeCost: 3 }).needsRehash(stored)).toBe(true);
    expect(createPasswordHasher({ parallelism: 2 }).needsRehash(stored)).toBe(true);
    // The same password and cost, made with argon2i, argon2id v=16 and a 16-byte output.
    expect(hasher.needsRehash('$argon2i$v=19$m=19456,t=2,p=1$1ddFXQsWu91lSe9BVap/Ew$LJdTpTUGkPa5qN4wKHibDR4G/K2E7lSwkeFTO13Rkis')).toBe(true);
    expect(hasher.needsRehash('$argon2id$v=16$m=19456,t=2,p=1$hDqoTNkvf8ovbR8aLMC/og$XW1ELeMFVj3FBGLFD1Eoqs1tepBgMGUSYR4Kewn+HoQ')).toBe(true);
    expect(hasher.needsRehash('$argon2id$v=19$m=19456,t=2,p=1$W87EuXuFYS4+pn7K/P5mNw$u9tfX1LHrmH2qtcPVn5TXw')).toBe(true);
    expect(hasher.needsRehash('garbage')).toBe(true);
  });

  it.each([
    [{ memoryCost: 7, parallelism: 1 }, /memoryCost must be an integer from 8 to/],
    [{ memoryCost: 19_456.5 }, /memoryCost must be an integer/],
    [{ timeCost: 0 }, /timeCost must be an integer from 1 to 100, got 0/],
    [{ parallelism: 0 }, /parallelism must be an integer from 1 to 255, got 0/],
    [{ parallelism: Number.NaN }, /parallelism must be an integer/],
  ])('refuses the parameters %j', (options, message) => {
    // A typo in the cost configuration must stop startup, not produce hashes argon2 cannot verify.
    expect(() => createPasswordHasher(options)).toThrow(message);
  });

  it('spends as long on an unknown e-mail as on a wrong password for a known one', async () => {
    // A sign-in that answers faster for unknown e-mails tells an attacker which accounts exist.
    const known = () => hasher.verify(stored, 'wrong-Passw0rd!');
    const unknown = () => hasher.dummyVerify('wrong-Passw0rd!');
    await expect(unknown()).resolves.toBe(false);
    const seen = await inSomeAttempt(3, () => costDifference(known, unknown, 21), (d) => d < 0.3);
    expect(seen.at(-1), `differences measured: ${seen.join(', ')}`).toBeLessThan(0.3);
  });

  it('the timing comparison notices a cheaper dummy', async () => {
    // Without this, the test above could pass because the measurement cannot tell anything apart.
    const cheap = createPasswordHasher({ timeCost: 1 });
    const dear = createPasswordHasher({ timeCost: 6 });
    const [cheapHash, dearHash] = await Promise.all([cheap.hash(password), dear.hash(password)]);
    const measure = () => costDifference(() => cheap.verify(cheapHash, 'x'), () => dear.verify(dearHash, 'x'), 9);
    const seen = await inSomeAttempt(3, measure, (d) => d > 0.3);
    expect(seen.at(-1), `differences measured: ${seen.join(', ')}`).toBeGreaterThan(0.3);
  });
});
