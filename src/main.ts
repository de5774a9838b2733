import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { EmbeddedDriver } from './db/embedded.ts';
import { lintDatabase } from './db/lint.ts';
import { bootstrapEmbedded, migrateDriver, openDatabase } from './db/open.ts';
import { ServerDriver } from './db/server.ts';
import { setupServer } from './db/setup.ts';
import type { Driver } from './db/types.ts';
import { coreModules } from './modules.ts';

const USAGE = `Usage: npm run palisade -- <command> [options]

Commands:
  serve                       start the API (applies pending migrations first)
  migrate                     apply pending migrations and exit
  db setup --admin-url URL    create or repair the roles and the database on a PostgreSQL server
           [--database NAME]  database name (default: palisade); passwords for the login roles are
                              taken from PALISADE_APP_PASSWORD and PALISADE_OWNER_PASSWORD if set
  lint                        check RLS coverage and privileges of the configured database
  help                        show this text

Without DATABASE_URL the embedded database in PALISADE_DATA_DIR (default ./data) is used.`;

class UsageError extends Error {}

/** parseArgs, with its complaints (unknown or malformed options) reported as usage errors. */
function parseCommandArgs<const O extends ParseArgsConfig['options']>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

async function openDriver(config: Config): Promise<Driver> {
  if (config.database.kind === 'server') {
    const { url, ownerUrl } = config.database;
    return new ServerDriver({ url, ownerUrl, max: 2 });
  }
  const driver = await EmbeddedDriver.open({ dataDir: config.database.dataDir });
  await bootstrapEmbedded(driver);
  return driver;
}

async function serve(config: Config): Promise<void> {
  const { db, applied } = await openDatabase({ config: config.database, modules: coreModules });
  const app = await createApp({ config, db, modules: coreModules });
  for (const warning of config.warnings) app.log.warn(warning);
  if (applied.length > 0) app.log.info({ applied }, 'migrations applied');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    await app.close();
    await db.close();
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  await app.listen({ host: config.host, port: config.port });
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve(loadConfig(process.env));
      return 0;
    case 'migrate': {
      const driver = await openDriver(loadConfig(process.env));
      try {
        const applied = await migrateDriver(driver, coreModules);
        console.log(applied.length === 0 ? 'migrations: up to date' : `migrations applied:\n  ${applied.join('\n  ')}`);
      } finally {
        await driver.close();
      }
      return 0;
    }
    case 'db': {
      const { positionals, values } = parseCommandArgs(rest, { 'admin-url': { type: 'string' }, database: { type: 'string' } });
      if (positionals[0] !== 'setup' || positionals.length !== 1) throw new UsageError('db: the only subcommand is "setup"');
      const adminUrl = values['admin-url'];
      if (adminUrl === undefined) throw new UsageError('db setup: --admin-url is required');
      const urls = await setupServer({
        adminUrl,
        ...(values.database === undefined ? {} : { database: values.database }),
        appPassword: process.env.PALISADE_APP_PASSWORD,
        ownerPassword: process.env.PALISADE_OWNER_PASSWORD,
      });
      console.log(`roles and database ready. Configure Palisade with:\n  DATABASE_URL=${urls.appUrl}\n  DATABASE_OWNER_URL=${urls.ownerUrl}`);
      return 0;
    }
    case 'lint': {
      const config = loadConfig(process.env);
      const driver = await openDriver(config);
      try {
        await migrateDriver(driver, coreModules);
        const owner = await driver.owner();
        try {
          const violations = await lintDatabase(owner);
          for (const v of violations) console.log(`${v.rule}: ${v.object}: ${v.message}`);
          console.log(violations.length === 0 ? 'lint: no violations' : `lint: ${violations.length} violation(s)`);
          return violations.length === 0 ? 0 : 1;
        } finally {
          await owner.release();
        }
      } finally {
        await driver.close();
      }
    }
    case undefined:
      console.error(USAGE);
      return 2;
    case 'help':
    case '--help':
      console.log(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

try {
  const code = await run(process.argv.slice(2));
  if (code !== 0) process.exitCode = code;
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`palisade: ${error.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (error instanceof ConfigError) {
    console.error(`palisade: ${error.message}`);
    process.exitCode = 1;
  } else {
    console.error(`palisade: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
