import { Readable } from 'node:stream';
import type { Sql } from '../db/types.ts';
import { csvRow, type CsvValue } from '../kernel/csv.ts';
import { recordEvent } from './events.ts';
import { FROM_SQL, OCCURRED_AT_SQL, ORDER_SQL, whereClause, type AuditFilter } from './search.ts';

/**
 * CSV export of the audit trail (AUD-6), streamed: a cursor in the request's transaction is read
 * in batches, each batch is written to the response, and the next batch is read only once the
 * client has taken the previous one (backpressure). Memory holds one batch and the stream's
 * buffer, whatever the size of the export. The `audit.exported` event (filters, row count) is
 * written last, in the same transaction.
 */

/** The columns of the export, in order (the header row). */
export const EXPORT_COLUMNS = [
  'occurred_at', 'id', 'event_type', 'action', 'actor_user_id', 'actor_email', 'actor_name', 'actor_role',
  'session_id', 'device_id', 'ip', 'user_agent', 'route', 'table_name', 'record_id', 'old_values', 'new_values',
  'reason', 'workspace_id',
] as const;
type ExportRow = Record<(typeof EXPORT_COLUMNS)[number], string | null>;

/** Every column as text: values are written exactly as PostgreSQL renders them (JSON as jsonb text). */
const EXPORT_SELECT = `SELECT ${OCCURRED_AT_SQL} AS occurred_at, e.id::text AS id, e.event_type, e.action::text AS action,
       e.actor_user_id::text AS actor_user_id, e.actor_email, u.display_name AS actor_name, e.actor_role, e.session_id,
       e.device_id, host(e.ip) AS ip, e.user_agent, e.route, e.table_name, e.record_id, e.old_values::text AS old_values,
       e.new_values::text AS new_values, e.reason, e.workspace_id::text AS workspace_id`;

export const EXPORT_BATCH_SIZE = 500;

/** Why an export stopped before its last row while its transaction was still sound. */
export type Interruption = 'client_closed' | 'stalled';

/** The client went away, or took nothing for too long: the export stops and is recorded as partial. */
export class ExportInterrupted extends Error {
  readonly reason: Interruption;
  constructor(reason: Interruption) {
    super(reason === 'stalled' ? 'the client took no data for too long' : 'the client closed the connection');
    this.name = 'ExportInterrupted';
    this.reason = reason;
  }
}

/** Where the CSV goes. */
export interface ExportSink {
  /** Called once the first batch is read, before the first write: the response may begin. */
  start(): void;
  /** Writes a chunk; resolves when more may be written; rejects with ExportInterrupted. */
  write(chunk: string): Promise<void>;
}

export interface ExportOutcome {
  /** Rows handed to the sink (for an interrupted export, at most that many reached the client). */
  count: number;
  complete: boolean;
  interrupted?: Interruption;
}

/**
 * Streams the workspace's events matching `filter` as CSV to `sink`, newest first, then records
 * `audit.exported` in the same transaction. A database error propagates (the transaction rolls
 * back and nothing of it remains); an interruption by the client stops the export, which is
 * recorded with `complete: false` and the rows written so far. `progress.count` follows the rows
 * written, for the caller to report an export that failed.
 */
export async function exportEvents(
  tx: Sql,
  workspaceId: string,
  filter: AuditFilter,
  sink: ExportSink,
  options: { batchSize?: number; progress?: { count: number } } = {},
): Promise<ExportOutcome> {
  const batchSize = options.batchSize ?? EXPORT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const progress = options.progress ?? { count: 0 };
  const where = whereClause(workspaceId, filter);
  await tx.query(`DECLARE palisade_audit_export NO SCROLL CURSOR FOR ${EXPORT_SELECT} ${FROM_SQL} WHERE ${where.sql} ${ORDER_SQL}`, where.params);
  const fetch = async () => (await tx.query<ExportRow>(`FETCH ${batchSize} FROM palisade_audit_export`)).rows;
  // Read before the response begins: an error this early is still an ordinary problem response.
  let batch = await fetch();
  sink.start();
  let interrupted: Interruption | undefined;
  try {
    let chunk = csvRow(EXPORT_COLUMNS);
    for (;;) {
      for (const row of batch) chunk += csvRow(EXPORT_COLUMNS.map((c): CsvValue => row[c]));
      progress.count += batch.length;
      await sink.write(chunk);
      if (batch.length < batchSize) break;
      batch = await fetch();
      if (batch.length === 0) break;
      chunk = '';
    }
  } catch (error) {
    if (!(error instanceof ExportInterrupted)) throw error;
    interrupted = error.reason;
  }
  await tx.query('CLOSE palisade_audit_export');
  const outcome: ExportOutcome = { count: progress.count, complete: interrupted === undefined, ...(interrupted === undefined ? {} : { interrupted }) };
  await recordEvent(tx, { eventType: 'audit.exported', action: 'EXPORT', tableName: 'tenant.audit_events', newValues: { filter, ...outcome } });
  return outcome;
}

/**
 * The response body of an export: a Readable that the writer fills with backpressure. `write`
 * resolves at once while the stream's buffer has room, else when the consumer reads again; it
 * rejects with ExportInterrupted when the stream is destroyed (Fastify destroys it when the
 * client disconnects) or when the consumer takes nothing for `stallMs`, which then aborts the
 * response. The stall limit keeps a client that stops reading from holding a database
 * connection (on the embedded database, the only one) for ever.
 */
export class ExportStream {
  readonly readable: Readable;
  readonly #stallMs: number;
  #waiting: { resolve: () => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | null = null;
  #interruption: ExportInterrupted | null = null;

  constructor(options: { stallMs: number; highWaterMark?: number }) {
    this.#stallMs = options.stallMs;
    this.readable = new Readable({
      highWaterMark: options.highWaterMark ?? 64 * 1024,
      read: () => {
        this.#settle(null);
      },
      destroy: (error, callback) => {
        this.#interruption ??= new ExportInterrupted('client_closed');
        this.#settle(this.#interruption);
        callback(error);
      },
    });
  }

  #settle(error: Error | null): void {
    const waiting = this.#waiting;
    if (waiting === null) return;
    this.#waiting = null;
    clearTimeout(waiting.timer);
    if (error === null) waiting.resolve();
    else waiting.reject(error);
  }

  async write(chunk: string): Promise<void> {
    if (this.#interruption !== null) throw this.#interruption;
    if (this.readable.push(chunk, 'utf8')) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#interruption = new ExportInterrupted('stalled');
        this.readable.destroy();
      }, this.#stallMs);
      this.#waiting = { resolve, reject, timer };
    });
  }

  /** Ends the body (after the transaction committed). */
  end(): void {
    if (!this.readable.destroyed) this.readable.push(null);
  }

  /** Aborts the body: the client sees the transfer cut short, never a complete-looking file. */
  abort(error: Error): void {
    this.readable.destroy(error);
  }
}
