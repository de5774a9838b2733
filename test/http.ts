import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { createApp } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import type { ModuleDefinition } from '../src/kernel/module.ts';
import { coreModules } from '../src/modules.ts';
import { openTestDatabase, type TestDatabase } from './db.ts';

/** The configuration tests run with: parsed like production's, quiet unless a test asks. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' }), ...overrides };
}

/** Log lines written by an app, parsed, plus the raw text for "never appears" checks. */
export interface CapturedLogs extends DestinationStream {
  lines: Record<string, unknown>[];
  text(): string;
}

/** A pino destination that keeps every line in memory. */
export function captureLogs(): CapturedLogs {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    write(line: string) {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}

export interface TestApp {
  app: FastifyInstance;
  /** The database under the app; closed by {@link TestApp.close} unless it was passed in. */
  t: TestDatabase;
  close(): Promise<void>;
}

/**
 * Builds the real app (core modules plus `modules`) over the run's test database, for
 * `app.inject()`: no listening socket, no mocks.
 * @param options.modules extra modules, registered after the core ones @default []
 * @param options.config overrides of {@link testConfig} @default {}
 * @param options.database an already open test database (the caller closes it) @default a new one
 * @param options.logStream where log lines go @default none (LOG_LEVEL silent)
 */
export async function buildTestApp(
  options: {
    modules?: readonly ModuleDefinition[];
    config?: Partial<Config>;
    database?: TestDatabase;
    logStream?: DestinationStream;
  } = {},
): Promise<TestApp> {
  const t = options.database ?? (await openTestDatabase());
  const ownsDatabase = options.database === undefined;
  try {
    const app = await createApp({
      config: testConfig(options.config),
      db: t.db,
      modules: [...coreModules, ...(options.modules ?? [])],
      ...(options.logStream === undefined ? {} : { logStream: options.logStream }),
    });
    await app.ready();
    return {
      app,
      t,
      async close() {
        await app.close();
        if (ownsDatabase) await t.close();
      },
    };
  } catch (error) {
    if (ownsDatabase) await t.close();
    throw error;
  }
}
