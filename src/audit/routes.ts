import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Actor } from '../access/control.ts';
import type { Database } from '../db/database.ts';
import { recordEvent } from './events.ts';
import { ExportStream, exportEvents, type ExportSink } from './export.ts';
import { auditEventSchema, filterQuery, searchEvents, searchQuery, toFilter, type AuditFilter } from './search.ts';

const workspaceParams = z.object({ workspaceId: z.uuid() });

export interface AuditRouteOptions {
  /** An export whose client takes nothing for this long is aborted. @default 60 s */
  exportStallMs?: number;
  /** Rows read per FETCH of an export. @default 500 */
  exportBatchSize?: number;
}

/** Audit search and CSV export (AUD-6). */
export async function auditRoutes(app: FastifyInstance, db: Database, options: AuditRouteOptions = {}): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const guard = app.guard;
  const stallMs = options.exportStallMs ?? 60_000;

  r.get('/api/v1/workspaces/:workspaceId/audit/events', {
    config: { access: 'audit.read' },
    schema: {
      summary: "Search the workspace's audit trail, newest first, one page at a time (AUD-6); the search is itself audited",
      params: workspaceParams,
      querystring: searchQuery,
      response: { 200: z.object({ events: z.array(auditEventSchema), nextCursor: z.string().nullable() }) },
    },
  }, async (request) => {
    const { cursor, limit, ...rest } = request.query;
    const filter = toFilter(rest);
    return guard.workspace(request, (tx, actor) => searchEvents(tx, actor.workspaceId, filter, { limit, cursor }));
  });

  /*
   * The export streams while its transaction is open. What the client sees when something fails:
   * - before the first row is sent (permission, validation, the first read): an ordinary
   *   problem+json response, as on every route;
   * - after the response began (the database fails mid-stream, or the commit fails): the
   *   connection is aborted without the final chunk, so the client sees a truncated transfer
   *   (an HTTP client reports an error, a browser a failed download), never a complete-looking
   *   file. The transaction rolled back, so its `audit.exported` event is gone with it; another
   *   transaction then records the partial export (`complete: false`, `interrupted:
   *   'database_error'`, the rows sent), if the database still answers;
   * - the client disconnects or stops reading for `exportStallMs`: the export stops, and its event
   *   (`complete: false`, `interrupted: 'client_closed'` or `'stalled'`) commits with it.
   * The response ends only after the commit: a file that arrives whole was audited.
   */
  r.get('/api/v1/workspaces/:workspaceId/audit/export.csv', {
    config: { access: 'audit.export' },
    // A HEAD would run the whole export to send no body.
    exposeHeadRoute: false,
    schema: {
      summary: "Export the workspace's audit trail as CSV (RFC 4180, formula-injection safe, streamed); the export is itself audited",
      description:
        'Same filters as the search, newest first, with a header row. Cells that a spreadsheet would run as a formula are prefixed ' +
        "with a single quote. A failure after the first bytes aborts the connection (the transfer is incomplete, never a " +
        'complete-looking file); a file that arrives whole was recorded as an `audit.exported` event.',
      params: workspaceParams,
      querystring: filterQuery,
      produces: ['text/csv'],
    },
  }, async (request, reply) => {
    const filter = toFilter(request.query);
    const body = new ExportStream({ stallMs });
    const progress = { count: 0 };
    // Set from callbacks: the response began; who is exporting.
    const state: { started: boolean; actor: Actor | null } = { started: false, actor: null };
    const sink: ExportSink = {
      start: () => {
        state.started = true;
        const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
        void reply
          .code(200)
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="audit-${request.params.workspaceId}-${stamp}.csv"`)
          .header('cache-control', 'no-store')
          .send(body.readable);
      },
      write: (chunk) => body.write(chunk),
    };
    try {
      await guard.workspace(request, (tx, actor) => {
        state.actor = actor;
        return exportEvents(tx, actor.workspaceId, filter, sink, { progress, ...(options.exportBatchSize === undefined ? {} : { batchSize: options.exportBatchSize }) });
      });
    } catch (error) {
      if (!state.started) throw error;
      request.log.error({ err: error, rows: progress.count }, 'audit export failed after the response began: connection aborted');
      if (state.actor !== null) await recordFailedExport(db, request, state.actor, filter, progress.count);
      if (!reply.raw.headersSent) {
        // Nothing reached the client yet: Fastify answers with the problem, not as an attachment.
        reply.removeHeader('content-disposition');
        reply.raw.removeHeader('content-disposition');
      }
      body.abort(error instanceof Error ? error : new Error(String(error)));
      return reply;
    }
    body.end();
    return reply;
  });
}

/**
 * Records, in a transaction of its own, an export whose transaction failed after rows were sent:
 * the rows left the server, so the trail must say so. Best effort: if the database does not
 * answer, the failure is logged.
 */
async function recordFailedExport(db: Database, request: FastifyRequest, actor: Actor, filter: AuditFilter, count: number): Promise<void> {
  try {
    await db.withWorkspace(
      {
        workspaceId: actor.workspaceId,
        userId: actor.userId,
        userEmail: actor.email,
        userRole: actor.systemRole,
        sessionId: actor.sessionId,
        ip: request.ip,
        userAgent: request.headers['user-agent']?.slice(0, 500) ?? null,
        route: `${request.method} ${request.routeOptions.url ?? ''}`,
      },
      (tx) => recordEvent(tx, {
        eventType: 'audit.exported',
        action: 'EXPORT',
        tableName: 'tenant.audit_events',
        newValues: { filter, count, complete: false, interrupted: 'database_error' },
      }),
    );
  } catch (error) {
    request.log.error({ err: error }, 'could not record the failed audit export');
  }
}
