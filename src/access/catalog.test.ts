import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/db.ts';
import { testConfig } from '../../test/http.ts';
import { createApp } from '../app.ts';
import { defineModule } from '../kernel/module.ts';
import { coreModules } from '../modules.ts';
import { AccessCatalog, definePermissions } from './catalog.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await openTestDatabase();
});
afterAll(async () => t.close());

/** Builds the app with one extra module whose single route is declared as given. */
async function startWith(config: Record<string, unknown>, url = '/api/v1/workspaces/:workspaceId/probe') {
  const probe = defineModule({
    id: 'probe',
    permissions: definePermissions({ 'probe.use': { description: 'Use the probe' } }),
    async routes(app) {
      app.get(url, { config }, async () => ({ ok: true }));
    },
  });
  const app = await createApp({ config: testConfig(), db: t.db, modules: [...coreModules, probe] });
  await app.ready();
  await app.close();
}

describe('ACC-1 every route declares what it requires; nothing is allowed by default', () => {
  it('the app refuses to start with a route that declares no access', async () => {
    await expect(startWith({})).rejects.toThrow(/GET \/api\/v1\/workspaces\/:workspaceId\/probe declares no access/);
  });

  it('the app refuses a permission that no module declares', async () => {
    await expect(startWith({ access: 'probe.abuse' })).rejects.toThrow(/requires unknown permission probe\.abuse/);
  });

  it('a permission is checked in a workspace: a permission route must name one', async () => {
    await expect(startWith({ access: 'probe.use' }, '/api/v1/probe')).rejects.toThrow(/names no workspace/);
  });

  it('starts when the route declares a known permission', async () => {
    await expect(startWith({ access: 'probe.use' })).resolves.toBeUndefined();
  });
});

describe('ACC-1 ACC-2 the catalog is checked when modules are combined', () => {
  const perms = definePermissions({ 'a.read': { description: 'read' }, 'a.root': { description: 'root', ownerOnly: true } });

  it('refuses malformed permission ids', () => {
    expect(() => definePermissions({ 'Bad Id': { description: 'x' } })).toThrow(/must match/);
  });

  it('refuses a permission declared twice, a role naming an unknown permission or holding an owner-only one', () => {
    expect(() => new AccessCatalog([{ id: 'a', permissions: perms }, { id: 'b', permissions: perms }])).toThrow(/declared by both a and b/);
    expect(() => new AccessCatalog([{ id: 'a', permissions: perms, roles: [{ key: 'r', name: 'R', permissions: ['a.write'] }] }])).toThrow(/unknown permission a\.write/);
    expect(() => new AccessCatalog([{ id: 'a', permissions: perms, roles: [{ key: 'r', name: 'R', permissions: ['a.root'] }] }])).toThrow(/owner-only/);
  });

  it('merges module contributions into one role, which exactly one module names', () => {
    const c = new AccessCatalog([
      { id: 'a', permissions: perms, roles: [{ key: 'clerk', name: 'Clerk', permissions: ['a.read'] }] },
      { id: 'b', permissions: definePermissions({ 'b.write': { description: 'w' } }), roles: [{ key: 'clerk', permissions: ['b.write'] }] },
    ]);
    expect([...(c.roles.get('clerk')?.permissions ?? [])]).toEqual(['a.read', 'b.write']);
    expect(() => new AccessCatalog([{ id: 'a', permissions: perms, roles: [{ key: 'ghost', permissions: ['a.read'] }] }])).toThrow(/no module names it/);
    expect(() => new AccessCatalog([{ id: 'a', permissions: perms, roles: [{ key: 'admin', permissions: ['a.read'] }] }])).toThrow(/cannot redefine the admin/);
  });

  it('Owner holds every permission, Admin all but the owner-only ones', () => {
    const c = new AccessCatalog(coreModules);
    const all = [...c.permissions.keys()];
    expect([...c.systemRole('owner').permissions].sort()).toEqual([...all].sort());
    expect([...c.systemRole('admin').permissions].sort()).toEqual(all.filter((p) => !c.isOwnerOnly(p)).sort());
    expect(all.filter((p) => c.isOwnerOnly(p)).sort()).toEqual(['ownership.transfer', 'sessions.revoke_workspace']);
  });
});
