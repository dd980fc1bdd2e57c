import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../kit/index.ts';
import { type AuditRouteDeps, auditRoutes } from './audit.ts';
import { type ErasureRouteDeps, erasureRoutes } from './erasure.ts';

export type { ErasureRouteDeps } from './erasure.ts';

export type AuditContextDeps = AuditRouteDeps &
  Omit<ErasureRouteDeps, 'personalData'> & {
    /** Personal-data keys behind the store: `POST /v1/users/{id}/erase` destroys them (absent: not served). */
    personalData?: ErasureRouteDeps['personalData'] | undefined;
  };

/** The audit context: erasure of a user's personal data, the audit log, exports and replays (`/v1/audit…`). */
export function auditContextRoutes(deps: AuditContextDeps) {
  const app = new OpenAPIHono<AppEnv>();
  if (deps.personalData) app.route('/', erasureRoutes({ ...deps, personalData: deps.personalData }));
  app.route('/', auditRoutes(deps));
  return app;
}
