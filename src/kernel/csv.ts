/**
 * CSV as RFC 4180 writes it — fields separated by commas, records ended by CRLF, a field quoted
 * when it holds a comma, a double quote, CR or LF (or when neutralised, below), quotes inside a
 * field doubled — and safe to open in a spreadsheet.
 *
 * Formula (CSV) injection, per OWASP: a spreadsheet runs a cell that starts with `=`, `+`, `-` or
 * `@` as a formula (`=HYPERLINK("http://evil", …)`, DDE `=cmd|…`), and some strip a leading tab
 * or CR/LF first. Every text cell that starts with one of those, with one of their full-width or
 * other compatibility forms (＝ ＋ － ＠, ﹦ ﹢ ﹣ ﹫, ⁼ ⁺ …, which NFKC maps onto them) or with the
 * minus sign U+2212, or that reaches one after leading whitespace, control or invisible format
 * characters (` =1+1`, `\u200B=1+1`), is prefixed with a single quote inside a quoted field:
 * `"'=HYPERLINK(""http://evil"",""x"")"`. The quote shows in the cell, and the text is otherwise
 * exactly what was recorded. Numbers, bigints and booleans are written as they are (a negative
 * number stays a number); only strings are neutralised.
 */

export type CsvValue = string | number | bigint | boolean | null | undefined;

/** What spreadsheets treat as the start of a formula, after NFKC (＝ → =, ﹢ → +, …). */
const FORMULA_START = new Set(['=', '+', '-', '@']);
/** Starts that NFKC leaves alone but that read as an operator: the minus sign. */
const FORMULA_START_EXTRA = new Set(['\u2212']);
/** Characters a spreadsheet may skip before the real first one: whitespace, controls, invisible format characters. */
const SKIPPABLE = /^[\s\p{Cc}\p{Cf}]+/u;
const NEEDS_QUOTES = /[",\r\n]/;

/** Whether a spreadsheet could read `text` as a formula (see the module comment). */
export function isFormulaLike(text: string): boolean {
  const first = text[0];
  if (first === undefined) return false;
  if (first === '\t' || first === '\r' || first === '\n') return true;
  const rest = text.replace(SKIPPABLE, '');
  const code = rest.codePointAt(0);
  if (code === undefined) return false;
  const char = String.fromCodePoint(code);
  if (FORMULA_START_EXTRA.has(char)) return true;
  const normalised = char.normalize('NFKC')[0];
  return normalised !== undefined && FORMULA_START.has(normalised);
}

/** One field: empty for null/undefined, quoted when needed, formula-like text neutralised. */
export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') return String(value);
  if (isFormulaLike(value)) return `"'${value.replaceAll('"', '""')}"`;
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One record, CRLF-terminated. */
export function csvRow(values: readonly CsvValue[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}
