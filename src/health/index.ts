import { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { defineErrors, errorsOf } from '../kernel/errors.ts';
import { defineModule } from '../kernel/module.ts';

export const healthErrors = defineErrors({
  DATABASE_UNAVAILABLE: { status: 503, title: 'The database does not answer' },
});
const fail = errorsOf(healthErrors);

/** Liveness and readiness: `GET /healthz` runs a query as palisade_anon (which can read no data). */
export const healthModule = defineModule({
  id: 'health',
  errors: healthErrors,
  async routes(app, { db }) {
    app.withTypeProvider<ZodTypeProvider>().get(
      '/healthz',
      {
        config: { access: 'public' },
        schema: {
          summary: 'Health check, including a database round trip',
          response: { 200: z.object({ status: z.literal('ok'), database: z.enum(['embedded', 'server']) }) },
        },
      },
      async () => {
        try {
          await db.withAnonymous((tx) => tx.query('SELECT 1'));
        } catch (error) {
          throw fail('DATABASE_UNAVAILABLE', undefined, undefined, error);
        }
        return { status: 'ok' as const, database: db.kind };
      },
    );
  },
});
