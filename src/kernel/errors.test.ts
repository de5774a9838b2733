import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { httpErrors } from '../http/errors.ts';
import { coreModules } from '../modules.ts';
import { AppError, defineErrors, errorsOf, problemType, toProblem, type ErrorCatalog } from './errors.ts';

describe('defineErrors', () => {
  it('returns a valid catalogue unchanged', () => {
    const catalog = { NOT_HERE: { status: 404, title: 'Not here' }, TEAPOT_2: { status: 599, title: 'Edge' } };
    expect(defineErrors(catalog)).toBe(catalog);
  });

  it.each(['not_found', 'NotFound', 'NOT-FOUND', 'NOT FOUND', '1_NOT_FOUND', '_NOT_FOUND', 'NOT_FOUNDé', ''])(
    'refuses the code %j',
    (code) => {
      // Codes are a public, stable API and the key of docs/errors.md: one spelling only.
      expect(() => defineErrors({ [code]: { status: 400, title: 'x' } })).toThrow(/not UPPER_SNAKE_CASE/);
    },
  );

  it.each([200, 204, 302, 399, 600, 999, 0, -404, 404.5, Number.NaN])('refuses the status %s', (status) => {
    // A catalogue entry is an error: a 2xx/3xx status would tell clients a failure succeeded.
    expect(() => defineErrors({ ODD_STATUS: { status, title: 'x' } })).toThrow(
      /ODD_STATUS: status must be an integer from 400 to 599, got/,
    );
  });
});

describe('problem rendering', () => {
  const catalog = defineErrors({ THING_MISSING: { status: 404, title: 'No such thing' } });
  const fail = errorsOf(catalog);

  it('renders RFC 9457 members with a type derived from the code', () => {
    expect(toProblem(fail('THING_MISSING', 'thing 42 is gone', { thingId: '42' }), '/things/42')).toEqual({
      type: 'urn:palisade:problem:thing-missing',
      title: 'No such thing',
      status: 404,
      code: 'THING_MISSING',
      detail: 'thing 42 is gone',
      instance: '/things/42',
      thingId: '42',
    });
    expect(problemType('DATABASE_UNAVAILABLE')).toBe('urn:palisade:problem:database-unavailable');
  });

  it('omits detail when there is none', () => {
    expect(toProblem(fail('THING_MISSING'), '/x')).not.toHaveProperty('detail');
  });

  it('keeps the cause out of the problem', () => {
    // The cause holds internals (SQL, driver messages); only the log may see it.
    const cause = new Error('relation "central.users" does not exist: SELECT password_hash FROM central.users');
    const error = fail('THING_MISSING', undefined, undefined, cause);
    expect(error.cause).toBe(cause);
    const text = JSON.stringify(toProblem(error, '/x'));
    expect(text).not.toContain('password_hash');
    expect(text).not.toContain('stack');
  });

  it('extensions cannot replace the standard members', () => {
    // A module's extension fields must not change what the client reads as status or code.
    const forged = new AppError({
      code: 'THING_MISSING',
      spec: { status: 404, title: 'No such thing' },
      extensions: { type: 'about:blank', title: 'OK', status: 200, code: 'SUCCESS', instance: '/elsewhere' },
    });
    expect(toProblem(forged, '/x')).toMatchObject({
      type: 'urn:palisade:problem:thing-missing',
      title: 'No such thing',
      status: 404,
      code: 'THING_MISSING',
      instance: '/x',
    });
  });
});

/** Every catalogue the server can answer with: the HTTP layer's and each core module's. */
function catalogues(): { module: string; errors: ErrorCatalog }[] {
  return [
    { module: 'http', errors: httpErrors },
    ...coreModules.flatMap((m) => (m.errors === undefined ? [] : [{ module: m.id, errors: m.errors }])),
  ];
}

interface DocumentedCode {
  status: number;
  module: string;
  meaning: string;
}

/** The rows of the table in docs/errors.md: | `CODE` | status | meaning | module | */
function documentedCodes(markdown: string): Map<string, DocumentedCode> {
  const rows = new Map<string, DocumentedCode>();
  for (const match of markdown.matchAll(/^\|\s*`([^`]+)`\s*\|\s*(\d+)\s*\|(.*)\|\s*([^|]*?)\s*\|\s*$/gm)) {
    const [, code = '', status = '', meaning = '', module = ''] = match;
    if (rows.has(code)) throw new Error(`docs/errors.md lists ${code} twice`);
    rows.set(code, { status: Number(status), module, meaning: meaning.trim() });
  }
  return rows;
}

/** What is wrong between the catalogues and the documentation, one line per problem. */
function documentationGaps(all: { module: string; errors: ErrorCatalog }[], markdown: string): string[] {
  const documented = documentedCodes(markdown);
  const gaps: string[] = [];
  const defined = new Set<string>();
  for (const { module, errors } of all) {
    for (const [code, spec] of Object.entries(errors)) {
      defined.add(code);
      const row = documented.get(code);
      if (row === undefined) gaps.push(`${code} (${module}) is not documented`);
      else if (row.status !== spec.status) gaps.push(`${code} is documented as ${row.status}, defined as ${spec.status}`);
      else if (row.module !== module) gaps.push(`${code} is documented under ${row.module}, defined in ${module}`);
      else if (row.meaning.length === 0) gaps.push(`${code} has no meaning in the table`);
    }
  }
  for (const code of documented.keys()) {
    if (!defined.has(code)) gaps.push(`${code} is documented but no catalogue defines it`);
  }
  return gaps;
}

describe('error catalogue documentation (docs/errors.md)', () => {
  const read = () => readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');

  it('documents every code of every catalogue, with its status and module, and nothing else', async () => {
    // Clients branch on codes: an undocumented code is an API change nobody was told about.
    expect(documentationGaps(catalogues(), await read())).toEqual([]);
  });

  it('the check notices a code that is added but not documented', async () => {
    const added = defineErrors({ SOMETHING_NEW: { status: 409, title: 'A new refusal' } });
    expect(documentationGaps([...catalogues(), { module: 'probe', errors: added }], await read())).toEqual([
      'SOMETHING_NEW (probe) is not documented',
    ]);
  });

  it('no code is defined by two catalogues', () => {
    // The problem type is derived from the code alone, so a code must mean one thing.
    const owners = new Map<string, string>();
    for (const { module, errors } of catalogues()) {
      for (const code of Object.keys(errors)) {
        expect(owners.get(code), `${code} is defined by ${owners.get(code) ?? ''} and ${module}`).toBeUndefined();
        owners.set(code, module);
      }
    }
    expect(owners.size).toBeGreaterThan(0);
  });
});
