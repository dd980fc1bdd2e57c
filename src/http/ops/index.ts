import { OpenAPIHono } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import type { Backup } from '../../db/backup.ts';
import type { Tables } from '../../db/tables.ts';
import type { AppEnv } from '../kit/index.ts';
import type { About } from './about.ts';
import { adminBackupRoutes } from './admin-backup.ts';
import { adminOpsRoutes } from './admin-ops.ts';
import { type AdminProjectionDeps, adminProjectionRoutes } from './admin-projections.ts';
import { adminTableRoutes } from './admin-tables.ts';
import { type DocsAssetLoader, docsRoutes } from './docs.ts';
import { healthRoutes, type ReadinessCheck } from './health.ts';
import { problemRoutes } from './problems.ts';
import { startPageRoutes } from './start-page.ts';

export type { AdminProjectionDeps } from './admin-projections.ts';
export { metricsRoutes } from './metrics.ts';

export interface OpsRouteDeps {
  db: Kysely<Tables>;
  readiness: readonly ReadinessCheck[];
  docsAssets: DocsAssetLoader;
  /** Projection status and rebuilds (absent: `/v1/admin/projections` is not served). */
  engine?: AdminProjectionDeps['engine'] | undefined;
  clock: () => Date;
  /** What this process runs (the start page says). */
  about: About;
  /** Takes a backup of the embedded database (absent on PostgreSQL: `/v1/admin/backup` answers 501). */
  backup?: (() => Promise<Backup>) | undefined;
}

/** Operating the service: the start page, health and readiness, the API docs, and the platform admin's views (`/v1/admin/…`). */
export function opsRoutes(deps: OpsRouteDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.route('/', startPageRoutes(deps.about));
  app.route('/', problemRoutes());
  app.route('/', healthRoutes(deps.readiness));
  app.route('/', docsRoutes(deps.docsAssets));
  if (deps.engine) app.route('/', adminProjectionRoutes({ engine: deps.engine, clock: deps.clock }));
  app.route('/', adminOpsRoutes({ db: deps.db }));
  app.route('/', adminTableRoutes({ db: deps.db }));
  app.route('/', adminBackupRoutes({ take: deps.backup }));
  return app;
}
export { type About, WARDEN_VERSION } from './about.ts';
export type { DocsAssetLoader } from './docs.ts';
export { swaggerUiAssets } from './docs-assets.ts';
export type { ReadinessCheck } from './health.ts';

/** `warden worker`'s own small server: `/health` and `/ready` with the worker's checks, nothing else. */
export function workerHealthApp(checks: readonly ReadinessCheck[]) {
  const app = new OpenAPIHono<AppEnv>();
  app.route('/', healthRoutes(checks));
  return app;
}
