import type { AccessCatalog } from './catalog.ts';

/**
 * docs/access.md, rendered from the catalog of the given modules: every permission and what each
 * system and predefined role holds. A test compares the committed file with this rendering, so the
 * documentation cannot drift from the code. Regenerate with `npm run palisade -- access docs`.
 */
export function renderAccessDoc(catalog: AccessCatalog): string {
  const lines: string[] = [
    '# Permissions and roles',
    '',
    'Generated from the modules\' declarations by `npm run palisade -- access docs > docs/access.md`;',
    '`src/access/docs.test.ts` fails when this file and the code disagree. Owner-only permissions are',
    'held by owners alone and cannot be put in any other role. Custom roles (per workspace) combine any',
    'other permissions; nobody grants a permission they do not hold.',
    '',
    '## Permissions',
    '',
    '| Permission | Module | Allows |',
    '| --- | --- | --- |',
  ];
  for (const [id, p] of [...catalog.permissions].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`| \`${id}\` | ${p.module} | ${p.description}${p.ownerOnly === true ? ' (owner only)' : ''} |`);
  }
  lines.push('', '## Roles', '');
  for (const role of catalog.roles.values()) {
    lines.push(`### ${role.name} (\`${role.key}\`, ${role.kind})`, '', role.description, '');
    const ps = [...role.permissions].sort();
    lines.push(ps.length === 0 ? '- (no permissions)' : ps.map((p) => `- \`${p}\``).join('\n'), '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
