/**
 * A strict RFC 4180 reader for tests: records end with CRLF (the last one too), a field is either
 * quoted (`"…"`, inner quotes doubled, may hold commas, CR and LF) or unquoted (no quote, CR or
 * LF at all), and every record has as many fields as the first. Anything else throws, so a writer
 * bug shows up as a parse failure rather than as a silently different table.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`invalid CSV at offset ${i}: ${why} (near ${JSON.stringify(text.slice(Math.max(0, i - 20), i + 20))})`);
  };
  if (text.length === 0) return records;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i += 1;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) fail('unterminated quoted field');
        field += text.slice(i, q);
        if (text[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
    } else {
      const start = i;
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') fail('a quote inside an unquoted field');
        i += 1;
      }
      field = text.slice(start, i);
    }
    record.push(field);
    if (text[i] === ',') {
      i += 1;
      continue;
    }
    if (text[i] === '\r' && text[i + 1] === '\n') {
      i += 2;
      records.push(record);
      const width = records[0]?.length ?? 0;
      if (record.length !== width) fail(`record ${records.length} has ${record.length} fields, the header ${width}`);
      record = [];
      if (i === text.length) return records;
      continue;
    }
    if (i >= text.length) fail('the last record is not terminated by CRLF');
    fail(`unexpected ${JSON.stringify(text[i])} after a field`);
  }
}

/** The records as objects keyed by the header row. */
export function parseCsvObjects(text: string): { header: string[]; rows: Record<string, string>[] } {
  const [header = [], ...records] = parseCsv(text);
  return { header, rows: records.map((r) => Object.fromEntries(header.map((h, k) => [h, r[k] ?? '']))) };
}
