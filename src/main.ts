import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createApp } from './app.ts';
import { exportCommand, purgeCommand, sealCommand, verifyCommand } from './audit/cli.ts';
import { startSealer } from './audit/seal.ts';
import { identityOptions } from './identity/index.ts';
import { createPasswordService } from './identity/password-service.ts';
import { bootstrapWorkspace, firstRunLink } from './identity/setup.ts';
import { outboxCommand } from './notify/cli.ts';
import { createMailDispatcher, mailTransportFor, type MailDispatcher } from './notify/dispatcher.ts';
import { AuditSigner } from './audit/signing.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { EmbeddedDriver } from './db/embedded.ts';
import { lintDatabase } from './db/lint.ts';
import { bootstrapEmbedded, migrateDriver, openDatabase } from './db/open.ts';
import { ServerDriver } from './db/server.ts';
import { setupServer } from './db/setup.ts';
import type { Driver } from './db/types.ts';
import { AccessCatalog } from './access/catalog.ts';
import { AccessControl } from './access/control.ts';
import { renderAccessDoc } from './access/docs.ts';
import { coreModules } from './modules.ts';

const USAGE = `Usage: npm run palisade -- <command> [options]

Commands:
  serve                       start the API (applies pending migrations first)
  migrate                     apply pending migrations and exit
  db setup --admin-url URL    create or repair the roles and the database on a PostgreSQL server
           [--database NAME]  database name (default: palisade); passwords for the login roles are
                              taken from PALISADE_APP_PASSWORD and PALISADE_OWNER_PASSWORD if set
  lint                        check RLS coverage and privileges of the configured database
  bootstrap --email ADDRESS --workspace NAME [--slug SLUG]
                              create a workspace and print its owner's invitation link
  outbox [--all]              show the mails waiting in the outbox (no SMTP_URL configured)
  access docs                 print every permission and role's permission set (docs/access.md)
  audit verify                recompute every audit hash chain and check the signed checkpoints
        [--workspace ID] [--checkpoints FILE] [--public-key FILE] [--fast]
                              --fast: the server recomputes the hashes with built-in sha256()
                              (about 4x faster; trusts the server's built-ins, see docs)
  audit seal                  seal pending audit events now and sign checkpoints
  audit checkpoints --out FILE [--all]
                              export the latest signed checkpoint of each workspace (keep it
                              outside the database server: it exposes a rewritten chain)
  audit purge [--workspace ID]
                              delete audit events past retention and not on legal hold,
                              printing the signed deletion certificates
  help                        show this text

Without DATABASE_URL the embedded database in PALISADE_DATA_DIR (default ./data) is used; stop
the server before running a command against the embedded database (one process owns it).`;

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

/** The audit signing key: from AUDIT_SIGNING_KEY_FILE, or generated in the data folder (dev). */
async function loadSigner(config: Config): Promise<{ signer: AuditSigner; created: boolean }> {
  return AuditSigner.fromFile(config.audit.signingKeyFile, { create: config.audit.createSigningKey });
}

async function serve(config: Config): Promise<void> {
  const { signer, created } = await loadSigner(config);
  const { db, applied } = await openDatabase({ config: config.database, modules: coreModules });
  // The dispatcher logs through its own pino instance until the app's logger exists.
  let mail: MailDispatcher | null = null;
  const app = await createApp({ config, db, modules: coreModules, mailQueued: () => mail?.kick() });
  mail = createMailDispatcher({
    db,
    transport: mailTransportFor(config.mail.smtpUrl),
    log: app.log,
    from: config.mail.from,
    // Without SMTP, outside production, mails are shown on the terminal as they are queued, so
    // the embedded quick start works offline (the structured log never carries a body or link).
    ...(config.env === 'production'
      ? {}
      : { printOutboxMail: (m: { id: string; to: string; subject: string; text: string }) => {
          console.log(`\n--- mail ${m.id} (outbox, no SMTP_URL) ---\nTo: ${m.to}\nSubject: ${m.subject}\n\n${m.text}--- end of mail ---\n`);
        } }),
  });
  mail.start();
  for (const warning of config.warnings) app.log.warn(warning);
  if (created) app.log.warn({ file: config.audit.signingKeyFile, keyId: signer.keyId }, 'generated a new audit signing key');
  if (applied.length > 0) app.log.info({ applied }, 'migrations applied');
  const sealer =
    config.audit.sealIntervalMs > 0
      ? startSealer({
          db,
          signer,
          intervalMs: config.audit.sealIntervalMs,
          checkpointAfterMs: config.audit.checkpointIntervalMs,
          onError: (error) => {
            app.log.error({ err: error }, 'audit sealing failed; retrying at the next interval');
          },
        })
      : null;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    await app.close();
    await sealer?.stop();
    await mail.stop();
    await db.close();
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  await app.listen({ host: config.host, port: config.port });
  // First run: a one-time link (1 hour) to create the first workspace and its owner. Printed to
  // the operator's terminal, not into the structured log.
  const link = await firstRunLink(db, config.publicUrl);
  if (link !== null) {
    console.log(`\nNo workspace yet. Create the first one and its owner within the hour:\n  ${link}\n` +
      `  (API: POST ${config.publicUrl}/api/v1/setup with the token from the link)\n`);
  }
}

async function bootstrap(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    email: { type: 'string' },
    workspace: { type: 'string' },
    slug: { type: 'string' },
  });
  if (positionals.length > 0 || values.email === undefined || values.workspace === undefined) {
    throw new UsageError('bootstrap: --email and --workspace are required');
  }
  const config = loadConfig(process.env);
  const slug = values.slug ?? values.workspace.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  const { db } = await openDatabase({ config: config.database, modules: coreModules });
  try {
    const result = await bootstrapWorkspace(
      {
        db,
        options: identityOptions(config),
        passwords: createPasswordService({ argon2: config.identity.argon2 }),
        mailQueued: () => undefined,
        access: new AccessControl(new AccessCatalog(coreModules)),
      },
      { email: values.email, workspaceName: values.workspace, workspaceSlug: slug },
    );
    console.log(`workspace ${values.workspace} (${result.workspaceId}) created. Its owner sets a password here (72 hours, once):\n  ${result.link}`);
    return 0;
  } finally {
    await db.close();
  }
}

async function outbox(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { all: { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError('outbox: no arguments but --all');
  const config = loadConfig(process.env);
  const { db } = await openDatabase({ config: config.database, modules: coreModules });
  try {
    console.log(await outboxCommand(db, { all: values.all === true }));
    return 0;
  } finally {
    await db.close();
  }
}

async function audit(args: string[]): Promise<number> {
  const { positionals, values } = parseCommandArgs(args, {
    workspace: { type: 'string' },
    checkpoints: { type: 'string' },
    'public-key': { type: 'string', multiple: true },
    out: { type: 'string' },
    all: { type: 'boolean' },
    fast: { type: 'boolean' },
  });
  const sub = positionals[0];
  if (positionals.length !== 1 || !['verify', 'seal', 'checkpoints', 'purge'].includes(sub ?? '')) {
    throw new UsageError('audit: the subcommands are verify, seal, checkpoints and purge');
  }
  if (sub === 'checkpoints' && values.out === undefined) throw new UsageError('audit checkpoints: --out FILE is required');
  const workspace = values.workspace;
  if (workspace !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(workspace)) {
    throw new UsageError(`audit: --workspace must be a workspace id (UUID), got ${JSON.stringify(workspace)}`);
  }
  const config = loadConfig(process.env);
  const { signer } = await loadSigner(config);
  const { db } = await openDatabase({ config: config.database, modules: coreModules });
  try {
    switch (sub) {
      case 'verify': {
        const result = await verifyCommand(db, signer, {
          ...(workspace === undefined ? {} : { workspaceId: workspace }),
          ...(values.checkpoints === undefined ? {} : { checkpointsFile: values.checkpoints }),
          publicKeyFiles: values['public-key'] ?? [],
          mode: values.fast === true ? 'fast' : 'deep',
        });
        console.log(result.text);
        return result.ok ? 0 : 1;
      }
      case 'seal':
        console.log(await sealCommand(db, signer));
        return 0;
      case 'checkpoints':
        console.log(await exportCommand(db, { out: values.out ?? '', all: values.all === true }));
        return 0;
      default:
        console.log(await purgeCommand(db, signer, workspace === undefined ? {} : { workspaceId: workspace }));
        return 0;
    }
  } finally {
    await db.close();
  }
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
    case 'audit':
      return audit(rest);
    case 'bootstrap':
      return bootstrap(rest);
    case 'outbox':
      return outbox(rest);
    case 'access':
      if (rest.length !== 1 || rest[0] !== 'docs') throw new UsageError('access: the only subcommand is docs');
      process.stdout.write(renderAccessDoc(new AccessCatalog(coreModules)));
      return 0;
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
