import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten } from '../support/visibility.ts';
import { execute, toolTenant } from './support.ts';

/**
 * A single-label name (`db`, `intranet`) means what the platform's network makes of it: the host's
 * search domains turn it into `db.<the platform's domain>`, and a platform DNS (Docker's, a
 * cluster's) answers single labels with its own services. A tenant cannot mean that, so neither the
 * allowlist nor a run takes one; the refusal names the field.
 */
for (const kind of databaseKinds) {
  describe(`single-label target names (${kind.name})`, () => {
    let t: TestApp;
    let owner: SignedInUser;
    let operator: SignedInUser;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      ({ owner, operator } = await toolTenant(t));
    });
    afterAll(async () => {
      await t?.dispose();
    });
    const putTargets = (targets: string[]) =>
      t.request('/v1/tools/targets', {
        method: 'PUT',
        token: owner.token,
        tenant: owner.tenantSlug,
        json: { targets },
      });

    it('refuses a single-label host name in the allowlist with 400 naming the entry; fully qualified names and wildcards are taken', async () => {
      for (const name of ['db', 'intranet', 'localhost']) {
        const res = await putTargets(['10.0.0.0/8', name]);
        expect(res.status, name).toBe(400);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        const problem = (await res.json()) as LooseJson;
        expect(problem.errors.map((e: LooseJson) => e.path)).toEqual(['targets.1']);
        expect(problem.errors[0].message).toMatch(/fully qualified/);
      }
      const kept = (await (
        await t.request('/v1/tools/targets', { token: owner.token, tenant: owner.tenantSlug })
      ).json()) as LooseJson;
      expect(kept.targets).toEqual(['127.0.0.1/32']);
      const taken = await putTargets(['127.0.0.1/32', 'db.example.com', '*.corp', '::1']);
      expect(taken.status).toBe(200);
    });

    it('refuses a single-label target with 422 naming the parameter, for every tool that takes a host, and records nothing', async () => {
      const head = await lastWritten(t.database.db);
      const available = new Set(
        (
          (await (
            await t.request('/v1/tools', { token: operator.token, tenant: operator.tenantSlug })
          ).json()) as LooseJson
        ).items
          .filter((i: LooseJson) => i.status === 'available')
          .map((i: LooseJson) => i.id as string),
      );
      const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
      const attempts: [string, LooseJson, string][] = [
        ['port-scan', { host: 'db', ports: '5432' }, 'parameters.host'],
        ['port-scan', { host: 'db:5432', ports: '5432' }, 'parameters.host'],
        ['tls-inspect', { host: 'intranet' }, 'parameters.host'],
        ['nmap', { host: 'db' }, 'parameters.host'],
        ['sslscan', { host: 'intranet.' }, 'parameters.host'],
        ['dns-lookup', { name: 'db' }, 'parameters.name'],
        ['http-headers', { url: 'http://intranet/' }, 'parameters.url'],
        ['http-headers', { url: 'http://localhost:8080/' }, 'parameters.url'],
        ['jwt', { token, jwksUrl: 'https://auth/jwks.json' }, 'parameters.jwksUrl'],
      ];
      for (const [tool, parameters, field] of attempts) {
        if (!available.has(tool)) continue;
        const res = await execute(t, operator, tool, parameters);
        expect(res.status, `${tool} ${JSON.stringify(parameters)}`).toBe(422);
        const problem = (await res.json()) as LooseJson;
        expect(problem.errors.map((e: LooseJson) => e.path)).toEqual([field]);
        expect(problem.errors[0].message).toMatch(/fully qualified/);
      }
      // Addresses and fully qualified names are judged by the allowlist as before.
      expect((await execute(t, operator, 'port-scan', { host: '127.0.0.1', ports: '1' })).status).toBe(202);
      expect((await execute(t, operator, 'port-scan', { host: 'db.example.com', ports: '1' })).status).toBe(
        403,
      );
      // Polled: on a shared server another session's open transaction can hold back what a read sees.
      await expect
        .poll(async () =>
          (await t.store.readAll({ after: head, types: ['ExecutionQueued'] })).map(
            (e) => (e.data as { target: string }).target,
          ),
        )
        .toEqual(['127.0.0.1']);
    });
  });
}
