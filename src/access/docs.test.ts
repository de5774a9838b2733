import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { coreModules } from '../modules.ts';
import { AccessCatalog } from './catalog.ts';
import { renderAccessDoc } from './docs.ts';

describe('ACC-2 every predefined role has a documented permission set', () => {
  it('docs/access.md is what the catalog renders (run `npm run palisade -- access docs > docs/access.md`)', async () => {
    const committed = await readFile(new URL('../../docs/access.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderAccessDoc(new AccessCatalog(coreModules)));
  });
});
