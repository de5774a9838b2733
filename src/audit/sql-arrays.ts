/**
 * PostgreSQL array literals for parameters, so that both drivers (node-postgres and PGlite) send
 * arrays the same way: as one text parameter cast in SQL (`$2::uuid[]`).
 */
export function textArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
}

/** bytea[] literal in hex form: {"\\x00ff",…}. */
export function byteaArray(values: readonly Uint8Array[]): string {
  return `{${values.map((v) => `"\\\\x${Buffer.from(v).toString('hex')}"`).join(',')}}`;
}
