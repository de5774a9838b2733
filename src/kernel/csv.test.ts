import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../test/csv.ts';
import { csvField, csvRow, isFormulaLike } from './csv.ts';

describe('AUD-6 CSV writer: RFC 4180', () => {
  it('writes plain fields bare, CRLF after every record', () => {
    expect(csvRow(['a', 'b c', '', 'x=y', 'a-b'])).toBe('a,b c,,x=y,a-b\r\n');
    expect(csvRow([null, undefined, 42, -1, 12n, true, false])).toBe(',,42,-1,12,true,false\r\n');
  });

  it('quotes fields with commas, quotes, CR or LF and doubles inner quotes', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line1\nline2')).toBe('"line1\nline2"');
    expect(csvField('line1\r\nline2')).toBe('"line1\r\nline2"');
    expect(csvField('"')).toBe('""""');
  });

  it('round-trips through a strict RFC 4180 reader', () => {
    const rows = [
      ['id', 'text', 'note'],
      ['1', 'say "hi", then\r\nbye', ''],
      ['2', ',,,', '"quoted"'],
      ['3', 'trailing space ', ' leading space'],
      ['4', 'ünïcödé ✓ 𝄞', 'tab\tinside'],
      ['5', '\n', '\r'],
    ];
    const text = rows.map((r) => csvRow(r)).join('');
    const parsed = parseCsv(text);
    // Cells that start with CR/LF are neutralised (a leading quote), everything else is exact.
    expect(parsed.slice(0, 5)).toEqual(rows.slice(0, 5));
    expect(parsed[5]).toEqual(['5', "'\n", "'\r"]);
  });

  it('the reader used by the tests refuses malformed CSV', () => {
    expect(() => parseCsv('a,b\r\nc\r\n')).toThrow(/fields/);
    expect(() => parseCsv('a,b\nc,d\r\n')).toThrow(/unexpected/);
    expect(() => parseCsv('a,b')).toThrow(/not terminated/);
    expect(() => parseCsv('"a"b\r\n')).toThrow(/unexpected/);
    expect(() => parseCsv('a"b\r\n')).toThrow(/quote inside/);
    expect(() => parseCsv('"abc\r\n')).toThrow(/unterminated/);
  });
});

describe('AUD-6 CSV writer: formula injection (OWASP)', () => {
  const dangerous = [
    '=HYPERLINK("http://evil","x")',
    '=1+1',
    '+cmd',
    '-1+1',
    '@SUM(1)',
    '\tcmd',
    '\r=1+1',
    '\n=1+1',
    '＝1+1',
    '＋1',
    '－1',
    '＠SUM(1)',
    '﹦1+1',
    '⁼1',
    '\u22121+1',
    ' =1+1',
    '   +1',
    '\u00A0=1+1',
    '\u3000=1+1',
    '\u200B=1+1',
    '\uFEFF@x',
    '\u0000=1',
    '\u000B-1',
    "=cmd|' /C calc'!A0",
  ];

  it.each(dangerous)('neutralises %j with a leading quote inside a quoted field', (text) => {
    expect(isFormulaLike(text)).toBe(true);
    const field = csvField(text);
    expect(field).toBe(`"'${text.replaceAll('"', '""')}"`);
    const [[cell] = []] = parseCsv(`${field}\r\n`);
    expect(cell).toBe(`'${text}`);
  });

  it.each(['', 'plain', 'a=b', 'x-1', 'e@example.com', '1+1', ' leading space', '{"a":"=1"}', "'=already quoted", '#1', '%'])(
    'leaves %j alone',
    (text) => {
      expect(isFormulaLike(text)).toBe(false);
      expect(parseCsv(`${csvField(text)}\r\n`)[0]?.[0] ?? '').toBe(text);
    },
  );

  it('does not neutralise numbers the code itself writes', () => {
    expect(csvField(-5)).toBe('-5');
    expect(csvField(-5n)).toBe('-5');
  });
});
