import { join, resolve } from 'node:path';
import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/**
 * A whole decimal number. `z.coerce.number()` reads '' and ' ' as 0, so `PORT=` (or a compose file's
 * `${PORT}` with PORT unset) would silently listen on a random port; it also reads '0x50' as 80.
 */
const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole decimal number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL');

/** Every environment variable Palisade reads, validated once at startup. */
const Env = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: integer(0, 65535).default(3000),
    /** Embedded database folder, used when DATABASE_URL is not set. */
    PALISADE_DATA_DIR: z.string().min(1).default('./data'),
    /** The app's login role (palisade_app) on a PostgreSQL server. */
    DATABASE_URL: postgresUrl.optional(),
    /** palisade_owner on the same server: migrations and the withSystem key registration. */
    DATABASE_OWNER_URL: postgresUrl.optional(),
    DATABASE_POOL_SIZE: integer(1, 500).default(10),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Largest accepted request body in bytes. */
    BODY_LIMIT: integer(1024, 50 * 1024 * 1024).default(1024 * 1024),
    /** Honour X-Forwarded-For only behind a proxy you run; otherwise clients could spoof their IP. */
    TRUST_PROXY: bool.default(false),
    /**
     * Ed25519 private key (PKCS#8 PEM) that signs audit checkpoints. Required in production;
     * elsewhere it defaults to PALISADE_DATA_DIR/keys/audit-signing-key.pem, created at first start.
     */
    AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
    /** Where people reach Palisade: links in mails, the allowed Origin; https turns on __Host- Secure cookies. */
    PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
    SESSION_MAX_AGE_SECONDS: integer(60, 30 * 86_400).default(8 * 3600),
    /** Owners and admins: shorter-lived sessions (AUTH-6). */
    SESSION_PRIVILEGED_MAX_AGE_SECONDS: integer(60, 30 * 86_400).default(2 * 3600),
    SESSION_IDLE_TIMEOUT_SECONDS: integer(60, 30 * 86_400).default(30 * 60),
    /** Failed sign-ins before the account locks, and for how long (AUTH-8). */
    LOCKOUT_THRESHOLD: integer(1, 100).default(5),
    LOCKOUT_SECONDS: integer(1, 86_400).default(15 * 60),
    /** argon2id cost (AUTH-1); the defaults are OWASP's. */
    ARGON2_MEMORY_KIB: integer(8, 4 * 1024 * 1024).default(19_456),
    ARGON2_TIME_COST: integer(1, 100).default(2),
    /** Optional online breach check (k-anonymity range API, e.g. https://api.pwnedpasswords.com). */
    PASSWORD_BREACH_API_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** smtp:// or smtps:// URL; without it mails stay in the outbox (`palisade outbox`). */
    SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
    /** Sender address of Palisade's mails (one plain address; the display name is "Palisade"). */
    MAIL_FROM: z.string().min(3).default('no-reply@palisade.localhost'),
    /** How often pending audit events are sealed into the hash chain; 0 turns the sealer off. */
    AUDIT_SEAL_INTERVAL_MS: integer(0, 3_600_000).default(1000),
    /** Minimum time between two signed checkpoints of one workspace. */
    AUDIT_CHECKPOINT_INTERVAL_MS: integer(0, 86_400_000).default(60_000),
  })
  .superRefine((env, ctx) => {
    if ((env.DATABASE_URL === undefined) !== (env.DATABASE_OWNER_URL === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.DATABASE_URL === undefined ? 'DATABASE_URL' : 'DATABASE_OWNER_URL'],
        message: 'DATABASE_URL and DATABASE_OWNER_URL go together (app role and owner role)',
      });
    }
  });

export type DatabaseConfig =
  | { kind: 'embedded'; dataDir: string }
  | { kind: 'server'; url: string; ownerUrl: string; poolSize: number };

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  database: DatabaseConfig;
  logLevel: z.infer<typeof Env>['LOG_LEVEL'];
  bodyLimit: number;
  publicUrl: string;
  identity: {
    sessionMaxAgeSeconds: number;
    privilegedMaxAgeSeconds: number;
    idleTimeoutSeconds: number;
    lockoutThreshold: number;
    lockoutSeconds: number;
    argon2: { memoryCost: number; timeCost: number };
    breachApiUrl: string | undefined;
  };
  mail: { smtpUrl: string | undefined; from: string };
  audit: {
    signingKeyFile: string;
    /** Generate the key file when missing (never in production). */
    createSigningKey: boolean;
    sealIntervalMs: number;
    checkpointIntervalMs: number;
  };
  trustProxy: boolean;
  /** Notes on unsafe settings, logged at startup. */
  warnings: string[];
}

export class ConfigError extends Error {}

/**
 * Parses the environment. Throws a {@link ConfigError} naming every bad variable; refuses unsafe
 * settings in production.
 */
export function loadConfig(environment: NodeJS.ProcessEnv): Config {
  const parsed = Env.safeParse(environment);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const env = parsed.data;
  const database: DatabaseConfig =
    env.DATABASE_URL !== undefined && env.DATABASE_OWNER_URL !== undefined
      ? { kind: 'server', url: env.DATABASE_URL, ownerUrl: env.DATABASE_OWNER_URL, poolSize: env.DATABASE_POOL_SIZE }
      : { kind: 'embedded', dataDir: resolve(env.PALISADE_DATA_DIR) };
  const warnings: string[] = [];
  if (database.kind === 'embedded') {
    const note =
      'embedded database (PGlite): single process, and its session user is a superuser; use DATABASE_URL for production';
    if (env.NODE_ENV === 'production') {
      throw new ConfigError(`invalid configuration:\n  DATABASE_URL: required when NODE_ENV=production (${note})`);
    }
    warnings.push(note);
  }
  if (env.NODE_ENV === 'production' && env.ARGON2_MEMORY_KIB < 19_456) {
    throw new ConfigError('invalid configuration:\n  ARGON2_MEMORY_KIB: below OWASP\'s 19456 KiB, refused in production');
  }
  if (env.NODE_ENV === 'production' && env.AUDIT_SIGNING_KEY_FILE === undefined) {
    throw new ConfigError(
      'invalid configuration:\n  AUDIT_SIGNING_KEY_FILE: required when NODE_ENV=production (an Ed25519 PKCS#8 PEM file kept off the database server)',
    );
  }
  return {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    database,
    logLevel: env.LOG_LEVEL,
    bodyLimit: env.BODY_LIMIT,
    trustProxy: env.TRUST_PROXY,
    publicUrl: (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    identity: {
      sessionMaxAgeSeconds: env.SESSION_MAX_AGE_SECONDS,
      privilegedMaxAgeSeconds: Math.min(env.SESSION_PRIVILEGED_MAX_AGE_SECONDS, env.SESSION_MAX_AGE_SECONDS),
      idleTimeoutSeconds: env.SESSION_IDLE_TIMEOUT_SECONDS,
      lockoutThreshold: env.LOCKOUT_THRESHOLD,
      lockoutSeconds: env.LOCKOUT_SECONDS,
      argon2: { memoryCost: env.ARGON2_MEMORY_KIB, timeCost: env.ARGON2_TIME_COST },
      breachApiUrl: env.PASSWORD_BREACH_API_URL,
    },
    mail: { smtpUrl: env.SMTP_URL, from: env.MAIL_FROM },
    audit: {
      signingKeyFile: resolve(env.AUDIT_SIGNING_KEY_FILE ?? join(env.PALISADE_DATA_DIR, 'keys', 'audit-signing-key.pem')),
      createSigningKey: env.NODE_ENV !== 'production',
      sealIntervalMs: env.AUDIT_SEAL_INTERVAL_MS,
      checkpointIntervalMs: env.AUDIT_CHECKPOINT_INTERVAL_MS,
    },
    warnings,
  };
}
