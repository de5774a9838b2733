import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

const APP_URL = 'postgres://palisade_app:app-pw@127.0.0.1:5432/palisade';
const OWNER_URL = 'postgres://palisade_owner:owner-pw@127.0.0.1:5432/palisade';

/** The ConfigError message for an environment, or a failure if it was accepted. */
function refusal(environment: NodeJS.ProcessEnv): string {
  try {
    loadConfig(environment);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error(`expected ${JSON.stringify(environment)} to be refused`);
}

describe('loadConfig defaults', () => {
  it('an empty environment gives a local, embedded development setup', () => {
    expect(loadConfig({})).toEqual({
      env: 'development',
      host: '127.0.0.1',
      port: 3000,
      database: { kind: 'embedded', dataDir: resolve('./data') },
      logLevel: 'info',
      bodyLimit: 1024 * 1024,
      trustProxy: false,
      publicUrl: 'http://localhost:3000',
      identity: {
        sessionMaxAgeSeconds: 28_800,
        privilegedMaxAgeSeconds: 7200,
        idleTimeoutSeconds: 1800,
        lockoutThreshold: 5,
        lockoutSeconds: 900,
        argon2: { memoryCost: 19_456, timeCost: 2 },
        breachApiUrl: undefined,
      },
      mail: { smtpUrl: undefined, from: 'no-reply@palisade.localhost' },
      audit: {
        signingKeyFile: resolve('./data/keys/audit-signing-key.pem'),
        createSigningKey: true,
        sealIntervalMs: 1000,
        checkpointIntervalMs: 60_000,
      },
      warnings: [expect.stringContaining('embedded database')],
    });
  });

  it('both database URLs select the server, with the pool size', () => {
    const config = loadConfig({ DATABASE_URL: APP_URL, DATABASE_OWNER_URL: OWNER_URL, DATABASE_POOL_SIZE: '25' });
    expect(config.database).toEqual({ kind: 'server', url: APP_URL, ownerUrl: OWNER_URL, poolSize: 25 });
    expect(config.warnings).toEqual([]);
  });

  it('reads every variable it documents', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      HOST: '0.0.0.0',
      PORT: '0',
      PALISADE_DATA_DIR: '/var/lib/palisade',
      LOG_LEVEL: 'warn',
      BODY_LIMIT: '2048',
      TRUST_PROXY: '1',
    });
    expect(config).toMatchObject({
      env: 'test',
      host: '0.0.0.0',
      port: 0,
      database: { kind: 'embedded', dataDir: '/var/lib/palisade' },
      logLevel: 'warn',
      bodyLimit: 2048,
      trustProxy: true,
    });
  });
});

describe('loadConfig refuses bad values, naming the variable', () => {
  const cases: [string, NodeJS.ProcessEnv][] = [
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '80.5' }],
    // Coercion would read these as 0 (any free port) and 80.
    ['PORT', { PORT: '' }],
    ['PORT', { PORT: ' ' }],
    ['PORT', { PORT: '0x50' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'INFO' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://app@127.0.0.1/palisade', DATABASE_OWNER_URL: OWNER_URL }],
    ['DATABASE_URL', { DATABASE_URL: 'palisade', DATABASE_OWNER_URL: OWNER_URL }],
    ['DATABASE_OWNER_URL', { DATABASE_URL: APP_URL, DATABASE_OWNER_URL: 'http://127.0.0.1/' }],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '0' }],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '' }],
    ['BODY_LIMIT', { BODY_LIMIT: '10' }],
    ['BODY_LIMIT', { BODY_LIMIT: '1mb' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'yes' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['HOST', { HOST: '' }],
  ];

  it.each(cases)('%s in %j', (variable, environment) => {
    // A typo must stop the start with the variable's name, never run on a silently different setting.
    expect(refusal(environment)).toMatch(new RegExp(`^  ${variable}: `, 'm'));
  });

  it('names every bad variable at once', () => {
    const message = refusal({ PORT: 'abc', LOG_LEVEL: 'loud' });
    expect(message).toMatch(/^ {2}PORT: /m);
    expect(message).toMatch(/^ {2}LOG_LEVEL: /m);
  });

  it('never repeats the value of a bad database URL', () => {
    // The refusal is printed to the console and CI logs: a mistyped URL still carries a password.
    const message = refusal({ DATABASE_URL: 'mysql://app:s3cr3t-Pa55@db.internal/palisade', DATABASE_OWNER_URL: OWNER_URL });
    expect(message).toMatch(/DATABASE_URL/);
    expect(message).not.toContain('s3cr3t-Pa55');
    expect(message).not.toContain('db.internal');
  });
});

describe('loadConfig database pairing and production safety', () => {
  it('refuses DATABASE_URL without DATABASE_OWNER_URL, and the reverse', () => {
    // Half a server configuration would silently fall back to an embedded database.
    expect(refusal({ DATABASE_URL: APP_URL })).toMatch(/^ {2}DATABASE_OWNER_URL: .*go together/m);
    expect(refusal({ DATABASE_OWNER_URL: OWNER_URL })).toMatch(/^ {2}DATABASE_URL: .*go together/m);
  });

  it('refuses NODE_ENV=production without DATABASE_URL', () => {
    // The embedded database's session user is a superuser: not a production setup.
    expect(refusal({ NODE_ENV: 'production' })).toMatch(/^ {2}DATABASE_URL: required when NODE_ENV=production/m);
  });

  it('starts in production with a server database, a signing key file and no warnings', () => {
    const config = loadConfig({
      NODE_ENV: 'production', DATABASE_URL: APP_URL, DATABASE_OWNER_URL: OWNER_URL, AUDIT_SIGNING_KEY_FILE: '/etc/palisade/audit.pem',
    });
    expect(config.env).toBe('production');
    expect(config.database.kind).toBe('server');
    expect(config.audit).toMatchObject({ signingKeyFile: '/etc/palisade/audit.pem', createSigningKey: false });
    expect(config.warnings).toEqual([]);
  });

  it('refuses production without an audit signing key file (never generated in production)', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: APP_URL, DATABASE_OWNER_URL: OWNER_URL })).toThrow(
      /AUDIT_SIGNING_KEY_FILE: required when NODE_ENV=production/,
    );
  });

  it.each(['development', 'test'] as const)('warns about the embedded database in %s', (env) => {
    // Outside production the unsafe default is allowed, but said out loud at startup.
    const config = loadConfig({ NODE_ENV: env });
    expect(config.database.kind).toBe('embedded');
    expect(config.warnings).toEqual([expect.stringMatching(/embedded database \(PGlite\).*superuser.*DATABASE_URL/)]);
  });
});
