import { OpenAPIHono } from '@hono/zod-openapi';
import type { SignupPolicy } from '../../src/commands/identity/index.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import type { AppEnv } from '../../src/http/env.ts';
import { onError } from '../../src/http/middleware/errors.ts';
import { jsonBody } from '../../src/http/middleware/json-body.ts';
import { requestContext } from '../../src/http/middleware/request-context.ts';
import { readModels } from '../../src/http/read-models.ts';
import { userRoutes } from '../../src/http/routes/users.ts';
import { argon2idHasher, owaspArgon2id } from '../../src/identity/passwords.ts';
import { permissionsOf, type TenantRole } from '../../src/identity/permissions.ts';
import { createLogger } from '../../src/logger.ts';
import { ProjectionEngine } from '../../src/projections/engine.ts';
import { userList } from '../../src/projections/user-list.ts';
import type { TestDatabase } from '../support/databases.ts';

/**
 * The users routes in-process on a database the test owns, with the real store, projection engine
 * and argon2id at OWASP parameters. Tenant resolution and authentication are other engineers' middleware;
 * until they land here, a test middleware sets the tenant (`x-test-tenant`, `x-test-plan`) and the
 * caller (`x-test-role`, `x-test-user`) the way they will.
 */
export async function usersApp(
  fresh: () => Promise<TestDatabase>,
  defaultSignupPolicy: SignupPolicy = 'open',
) {
  const { database, dispose } = await fresh();
  const store = postgresEventStore(database, { pollIntervalMs: 10 });
  const logger = createLogger('silent', { write: () => undefined });
  const engine = new ProjectionEngine({
    database,
    store,
    projections: [userList as never],
    logger,
    pollIntervalMs: 10,
  });
  await engine.start();
  const hasher = argon2idHasher(owaspArgon2id);
  const app = new OpenAPIHono<AppEnv>();
  app.use('*', requestContext(logger));
  app.use('*', jsonBody(64 * 1024));
  app.use('*', async (c, next) => {
    const tenantId = c.req.header('x-test-tenant');
    if (tenantId) {
      c.set('tenant', {
        id: tenantId,
        slug: `t-${tenantId.slice(0, 8)}`,
        status: 'active',
        plan: c.req.header('x-test-plan') ?? 'enterprise',
        via: 'header',
      });
    }
    const role = c.req.header('x-test-role') as TenantRole | undefined;
    if (role && tenantId) {
      c.set('principal', {
        userId: c.req.header('x-test-user') ?? crypto.randomUUID(),
        tenantId,
        role,
        platformSuperadmin: false,
        permissions: permissionsOf(role),
        tokenId: crypto.randomUUID(),
        tokenExpiresAt: new Date(Date.now() + 60_000),
      });
    }
    await next();
  });
  app.route(
    '/',
    userRoutes({
      store,
      db: database.db,
      readModels: readModels(engine, 5000),
      clock: () => new Date(),
      hasher,
      defaultSignupPolicy,
    }),
  );
  app.onError(onError);

  const request = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (json !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return app.request(path, {
      ...rest,
      headers,
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
  };
  return {
    app,
    store,
    database,
    hasher,
    request,
    async dispose() {
      await engine.stop();
      await dispose();
    },
  };
}
