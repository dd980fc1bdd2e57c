import { OpenAPIHono } from '@hono/zod-openapi';
import { secureHeaders } from 'hono/secure-headers';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Tables } from '../db/tables.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { AppEnv } from './env.ts';
import { onError } from './middleware/errors.ts';
import { idempotency } from './middleware/idempotency.ts';
import { jsonBody } from './middleware/json-body.ts';
import { requestContext } from './middleware/request-context.ts';
import { problemResponse } from './problem.ts';
import { type ProjectionWaiter, readModels } from './read-models.ts';
import { healthRoutes, type ReadinessCheck } from './routes/health.ts';
import { tenantRoutes } from './routes/tenants.ts';

export interface AppDeps {
  config: Pick<Config, 'WARDEN_BODY_LIMIT_BYTES' | 'WARDEN_READ_WAIT_MS' | 'WARDEN_IDEMPOTENCY_TTL_HOURS'>;
  store: EventStore;
  db: Kysely<Tables>;
  projections: ProjectionWaiter;
  readiness: readonly ReadinessCheck[];
  logger: Logger;
  clock?: () => Date;
}

/** The whole HTTP surface as one Hono app: the same object serves on Node, on Deno and in `app.request()` tests. */
export function createApp(deps: AppDeps) {
  const clock = deps.clock ?? (() => new Date());
  const app = new OpenAPIHono<AppEnv>();
  app.use('*', requestContext(deps.logger));
  app.use('*', secureHeaders());
  app.use('*', jsonBody(deps.config.WARDEN_BODY_LIMIT_BYTES));
  app.use(
    '/v1/*',
    idempotency({
      db: deps.db,
      ttlHours: deps.config.WARDEN_IDEMPOTENCY_TTL_HOURS,
      // One scope until callers are authenticated; then the caller's id (never the raw token) scopes keys.
      scope: () => 'platform',
    }),
  );

  const reads = readModels(deps.projections, deps.config.WARDEN_READ_WAIT_MS);
  app.route('/', healthRoutes(deps.readiness));
  app.route('/', tenantRoutes({ store: deps.store, db: deps.db, readModels: reads, clock }));

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Warden',
      version: '0.1.0',
      description: 'Multi-tenant, event-sourced security platform API',
    },
  });
  app.notFound((c) =>
    problemResponse(c, 404, 'not-found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`),
  );
  app.onError(onError);
  return app;
}

export type WardenApp = ReturnType<typeof createApp>;
