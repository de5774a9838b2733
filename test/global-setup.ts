import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { EmbeddedDriver } from '../src/db/embedded.ts';
import { bootstrapEmbedded, migrateDriver } from '../src/db/open.ts';
import { ServerDriver } from '../src/db/server.ts';
import { dropDatabase, setupServer } from '../src/db/setup.ts';
import { coreModules } from '../src/modules.ts';
import { testTarget, type TestTarget } from './target.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    target: TestTarget;
  }
}

/**
 * Prepares one database for the whole run. Embedded: a migrated PGlite, dumped to a tarball that
 * each test file starts from. Server: a fresh database (roles created if missing), migrated, and
 * dropped at the end unless the run was handed one through DATABASE_URL.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const target = testTarget(process.env);
  if (target.kind === 'embedded') {
    const dir = await mkdtemp(join(tmpdir(), 'palisade-test-'));
    const driver = await EmbeddedDriver.open({});
    await bootstrapEmbedded(driver);
    await migrateDriver(driver, coreModules);
    const template = join(dir, 'template.tar');
    await writeFile(template, Buffer.from(await (await driver.dump()).arrayBuffer()));
    await driver.close();
    project.provide('target', { ...target, template });
    return async () => rm(dir, { recursive: true, force: true });
  }
  let { appUrl, ownerUrl } = target;
  let created: string | undefined;
  if (appUrl === undefined || ownerUrl === undefined) {
    created = `palisade_test_${randomBytes(4).toString('hex')}`;
    ({ appUrl, ownerUrl } = await setupServer({ adminUrl: target.adminUrl, database: created }));
  }
  const driver = new ServerDriver({ url: appUrl, ownerUrl, max: 1 });
  try {
    await migrateDriver(driver, coreModules);
  } finally {
    await driver.close();
  }
  project.provide('target', { ...target, appUrl, ownerUrl });
  return async () => {
    if (created !== undefined) await dropDatabase(target.adminUrl, created);
  };
}
