import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTargets } from '../../src/commands/tools/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import {
  expectForeignIdsNotFound,
  expectMatrix,
  type ProtectedRoute,
  type Send,
  sender,
} from '../tenancy/authorization.ts';

/**
 * Every tools route sent by every role (and the platform superadmin) with real access tokens,
 * checked against the permission matrix; then the routes naming an execution asked for through
 * another tenant. Who sees which execution within a tenant is in tools.int.test.ts.
 */
for (const kind of databaseKinds) {
  describe(`authorization of tools routes (${kind.name})`, () => {
    let t: TestApp;
    let send: Send;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      send = sender(t);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    const allowLocalhost = async (tenant: { id: string }) => {
      await setTargets(
        t.store,
        {
          type: 'SetTargets',
          tenantId: tenant.id,
          targets: ['127.0.0.1/32'],
          by: 'test',
          at: new Date().toISOString(),
        },
        { metadata: { tenantId: tenant.id } },
      );
    };

    const routes: ProtectedRoute[] = [
      {
        name: 'GET /v1/tools',
        permission: 'tools:read',
        prepare: () => ({ method: 'GET', path: '/v1/tools' }),
      },
      {
        name: 'GET /v1/tools/{id}',
        permission: 'tools:read',
        prepare: () => ({ method: 'GET', path: '/v1/tools/nmap' }),
      },
      {
        name: 'GET /v1/tools/targets',
        permission: 'tools:manage',
        prepare: () => ({ method: 'GET', path: '/v1/tools/targets' }),
      },
      {
        name: 'PUT /v1/tools/targets',
        permission: 'tools:manage',
        prepare: () => ({ method: 'PUT', path: '/v1/tools/targets', body: { targets: ['127.0.0.1/32'] } }),
      },
      {
        name: 'POST /v1/tools/{id}/executions',
        permission: 'tools:execute',
        ok: [202],
        prepare: () => ({
          method: 'POST',
          path: '/v1/tools/hash-identify/executions',
          body: { parameters: { hash: 'abc' } },
        }),
      },
      {
        name: 'POST /v1/tools/{id}/executions (intrusive: operator and above)',
        permission: 'tools:execute',
        only: ['owner', 'admin', 'operator', 'superadmin'],
        ok: [202],
        prepare: async (x) => {
          await allowLocalhost(x);
          return {
            method: 'POST',
            path: '/v1/tools/port-scan/executions',
            body: { parameters: { host: '127.0.0.1', ports: '1' } },
          };
        },
      },
      {
        name: 'GET /v1/executions',
        permission: 'tools:read',
        prepare: () => ({ method: 'GET', path: '/v1/executions' }),
      },
    ];

    it('answers every role as the permission matrix says', async () => {
      const tenant = await t.tenant();
      const table = await expectMatrix(send, tenant, routes);
      expect(Object.keys(table)).toEqual(routes.map((r) => r.name));
    });

    it('treats another tenant’s execution ids as unknown (404) on every route naming one', async () => {
      const owner = await t.tenant();
      const intruder = await t.tenant();
      const executionOf = async (x: { id: string; slug: string }) => {
        const res = await send({
          method: 'POST',
          path: '/v1/tools/hash-identify/executions',
          body: { parameters: { hash: 'abc' } },
          as: 'owner',
          tenant: x,
        });
        return ((await res.json()) as { id: string }).id;
      };
      const named = (method: string, suffix: string): ProtectedRoute => ({
        name: `${method} /v1/executions/{id}${suffix}`,
        permission: 'tools:read',
        prepare: async (x) => ({ method, path: `/v1/executions/${await executionOf(x)}${suffix}` }),
      });
      await expectForeignIdsNotFound(send, owner, intruder, [
        named('GET', ''),
        named('GET', '/output'),
        named('GET', '/stream'),
        named('DELETE', ''),
        named('POST', '/cancel'),
        named('POST', '/rerun'),
      ]);
    });
  });
}
