import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../kit/index.ts';
import { type DomainRouteDeps, domainRoutes } from './domains.ts';
import { tenantAdminRoutes } from './tenant-admin.ts';
import { tenantRoutes } from './tenants.ts';

export { type TenantSignupRouteDeps, tenantSignupRoutes } from './signup.ts';

export type TenancyRouteDeps = DomainRouteDeps;

/** The tenancy context, mounted at `/v1/tenants`: tenants, their domains and their storage stats. */
export function tenancyRoutes(deps: TenancyRouteDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.route('/', tenantRoutes(deps));
  app.route('/', domainRoutes(deps));
  app.route('/', tenantAdminRoutes(deps));
  return app;
}
