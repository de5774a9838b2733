/** Which database the test run uses: embedded PGlite by default, a server when asked. */
export type TestTarget =
  | { kind: 'embedded'; template?: string }
  | { kind: 'server'; adminUrl: string; appUrl?: string; ownerUrl?: string };

/**
 * `npm test` uses PGlite. `PALISADE_TEST_DB=server npm test` uses the server at
 * PALISADE_TEST_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres) and creates a
 * fresh database; with DATABASE_URL and DATABASE_OWNER_URL set it uses that database instead.
 */
export function testTarget(env: NodeJS.ProcessEnv): TestTarget {
  const server = env.PALISADE_TEST_DB === 'server' || env.DATABASE_URL !== undefined;
  if (!server) return { kind: 'embedded' };
  return {
    kind: 'server',
    adminUrl: env.PALISADE_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    ...(env.DATABASE_URL === undefined ? {} : { appUrl: env.DATABASE_URL }),
    ...(env.DATABASE_OWNER_URL === undefined ? {} : { ownerUrl: env.DATABASE_OWNER_URL }),
  };
}
