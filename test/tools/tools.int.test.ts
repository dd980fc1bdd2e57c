import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten } from '../support/visibility.ts';
import { execute, silentServer, toolTenant, toolWorker, waitForStatus } from './support.ts';

/** A port the test opens on 127.0.0.1 (accepting), closed by `close()`. */
async function openPort() {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

for (const kind of databaseKinds) {
  describe(`tools over HTTP (${kind.name})`, () => {
    let t: TestApp;
    let worker: ToolJobs;
    let owner: SignedInUser;
    let operator: SignedInUser;
    let slug: string;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      worker = toolWorker(t);
      ({ owner, operator } = await toolTenant(t));
      slug = owner.tenantSlug;
    });
    afterAll(async () => {
      await worker?.stop(1000);
      await t?.dispose();
    });
    const get = (path: string, user: SignedInUser = owner) =>
      t.request(path, { token: user.token, tenant: user.tenantSlug });

    it('lists the catalog with JSON Schemas, and nmap and sslscan as available where installed', async () => {
      const res = await get('/v1/tools');
      expect(res.status).toBe(200);
      const body = (await res.json()) as LooseJson;
      const ids = body.items.map((i: LooseJson) => i.id);
      expect(ids).toEqual(
        expect.arrayContaining(['port-scan', 'tls-inspect', 'http-headers', 'dns-lookup', 'jwt']),
      );
      expect(body.items.find((i: LooseJson) => i.id === 'nmap').status).toBe('available');
      const network = (await (await get('/v1/tools?category=network')).json()) as LooseJson;
      expect(network.items.every((i: LooseJson) => i.category === 'network')).toBe(true);
      const detail = (await (await get('/v1/tools/port-scan')).json()) as LooseJson;
      expect(detail.parameters_schema.properties.ports.type).toBe('string');
      expect(detail.result_schema.properties.open.type).toBe('array');
      expect(detail.intrusive).toBe(true);
      expect((await get('/v1/tools/no-such-tool')).status).toBe(404);
    });

    it('keeps an allowlist per tenant, empty by default, changed only with tools:manage', async () => {
      const other = await t.tenant();
      const otherOwner = await t.user({ tenant: other.slug, role: 'owner' });
      const empty = (await (await get('/v1/tools/targets', otherOwner)).json()) as LooseJson;
      expect(empty.targets).toEqual([]);
      const asOperator = await t.request('/v1/tools/targets', {
        method: 'PUT',
        token: operator.token,
        tenant: slug,
        json: { targets: ['10.0.0.0/8'] },
      });
      expect(asOperator.status).toBe(403);
      const bad = await t.request('/v1/tools/targets', {
        method: 'PUT',
        token: owner.token,
        tenant: slug,
        json: { targets: ['10.0.0.0/99'] },
      });
      expect(bad.status).toBe(400);
      const mine = (await (await get('/v1/tools/targets')).json()) as LooseJson;
      expect(mine.targets).toEqual(['127.0.0.1/32']);
    });

    it('refuses a target outside the allowlist with 403 naming it, before anything runs or is recorded', async () => {
      const head = await lastWritten(t.database.db);
      const res = await execute(t, operator, 'port-scan', { host: '192.0.2.1', ports: '80' });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(((await res.json()) as LooseJson).detail).toContain('192.0.2.1');
      expect(await t.store.readAll({ after: head, types: ['ExecutionQueued'] })).toEqual([]);
    });

    it('answers bad input without a 500 and appends nothing: unknown tool 404, schema 422 naming the field, 413', async () => {
      const head = await lastWritten(t.database.db);
      expect((await execute(t, operator, 'nope', {})).status).toBe(404);
      const invalid = await execute(t, operator, 'port-scan', { host: '127.0.0.1', ports: '99999' });
      expect(invalid.status).toBe(422);
      const body = (await invalid.json()) as LooseJson;
      expect(body.errors.map((e: LooseJson) => e.path)).toContain('parameters.ports');
      const unknownField = await execute(t, operator, 'hash-identify', { hash: 'abc', extra: 1 });
      expect(unknownField.status).toBe(422);
      const big = await execute(t, operator, 'hash-identify', { hash: 'a'.repeat(20_000) });
      expect(big.status).toBe(413);
      const tooLong = await execute(
        t,
        operator,
        'hash-identify',
        { hash: 'abc' },
        { timeout_ms: 10_000_000 },
      );
      expect(tooLong.status).toBe(422);
      expect(await t.store.readAll({ after: head, types: ['ExecutionQueued'] })).toEqual([]);
    });

    it('lets a member run the passive tools and see only their own runs; intrusive ones need the operator role (403, nothing appended)', async () => {
      const member = await t.user({ tenant: slug, role: 'member' });
      expect((await get('/v1/tools', member)).status).toBe(200);
      const own = await execute(t, member, 'hash-identify', { hash: 'abc' });
      expect(own.status).toBe(202);
      const ownId = ((await own.json()) as LooseJson).id;
      const head = await lastWritten(t.database.db);
      for (const [tool, parameters] of [
        ['port-scan', { host: '127.0.0.1', ports: '1' }],
        ['tls-inspect', { host: '127.0.0.1', port: 1 }],
        ['nmap', { host: '127.0.0.1', ports: '1' }],
      ] as const) {
        const refused = await execute(t, member, tool, parameters);
        expect(refused.status).toBe(403);
        expect(((await refused.json()) as LooseJson).rule).toBe('intrusive_needs_operator');
      }
      expect(await t.store.readAll({ after: head, types: ['ExecutionQueued'] })).toEqual([]);
      expect((await waitForStatus(t, member, ownId)).status).toBe('completed');
      // The list is a read model: it may lag the run's events a moment.
      let seen: LooseJson = { items: [] };
      for (let i = 0; i < 50 && seen.items.length === 0; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        seen = (await (await get('/v1/executions', member)).json()) as LooseJson;
      }
      expect(seen.items.map((i: LooseJson) => i.id)).toEqual([ownId]);
    });

    it('runs a TCP port scan of a port the test opened: queued → running → completed, with result and output', async () => {
      const open = await openPort();
      try {
        const res = await execute(t, operator, 'port-scan', { host: '127.0.0.1', ports: `${open.port},1` });
        expect(res.status).toBe(202);
        const queued = (await res.json()) as LooseJson;
        expect(res.headers.get('location')).toBe(`/v1/executions/${queued.id}`);
        expect(queued.status).toBe('queued');
        const done = await waitForStatus(t, operator, queued.id);
        expect(done.status).toBe('completed');
        expect(done.result.open).toEqual([open.port]);
        expect(done.exit_code).toBe(0);
        expect(done.duration_ms).toBeGreaterThanOrEqual(0);
        expect(done.output).toContain(`${open.port}/tcp open`);
        const text = await get(`/v1/executions/${queued.id}/output`, operator);
        expect(await text.text()).toContain(`${open.port}/tcp open`);
        const part = await t.request(`/v1/executions/${queued.id}/output`, {
          token: operator.token,
          tenant: slug,
          headers: { range: 'bytes=0-3' },
        });
        expect(part.status).toBe(206);
        expect((await part.text()).length).toBe(4);
        const history = await t.request(`/v1/executions?tool=port-scan&status=completed`, {
          token: operator.token,
          tenant: slug,
          headers: {
            'x-min-position': String(await lastWritten(t.database.db)),
          },
        });
        const list = (await history.json()) as LooseJson;
        expect(list.items.map((i: LooseJson) => i.id)).toContain(queued.id);
      } finally {
        await open.close();
      }
    });

    it('runs the real nmap against a port the test opened and parses its XML into hosts and ports', async () => {
      const open = await openPort();
      try {
        const res = await execute(t, operator, 'nmap', { host: '127.0.0.1', ports: String(open.port) });
        expect(res.status).toBe(202);
        const done = await waitForStatus(t, operator, ((await res.json()) as LooseJson).id);
        expect(done.status, JSON.stringify(done)).toBe('completed');
        expect(done.result.open).toEqual([open.port]);
        expect(done.result.hosts[0].address).toBe('127.0.0.1');
        expect(done.result.hosts[0].ports[0]).toMatchObject({
          port: open.port,
          state: 'open',
          protocol: 'tcp',
        });
      } finally {
        await open.close();
      }
    });

    it('times a hanging run out, and cancels a queued or running one; a finished one is a 409', async () => {
      const silent = await silentServer();
      try {
        const slow = await execute(
          t,
          operator,
          'tls-inspect',
          { host: '127.0.0.1', port: silent.port },
          { timeout_ms: 300 },
        );
        const timedOut = await waitForStatus(t, operator, ((await slow.json()) as LooseJson).id);
        expect(timedOut.status).toBe('timed_out');

        const hanging = await execute(t, operator, 'tls-inspect', { host: '127.0.0.1', port: silent.port });
        const id = ((await hanging.json()) as LooseJson).id;
        await waitForStatus(t, operator, id, ['running']);
        const cancel = await t.request(`/v1/executions/${id}`, {
          method: 'DELETE',
          token: operator.token,
          tenant: slug,
        });
        expect(cancel.status).toBe(202);
        expect((await waitForStatus(t, operator, id)).status).toBe('cancelled');
        const again = await t.request(`/v1/executions/${id}/cancel`, {
          method: 'POST',
          token: operator.token,
          tenant: slug,
        });
        expect(again.status).toBe(409);
      } finally {
        await silent.close();
      }
    });

    it('stops a real process on cancel (SIGTERM, then SIGKILL) and keeps the output so far', async () => {
      const silent = await silentServer();
      try {
        const res = await execute(t, operator, 'nmap', {
          host: '127.0.0.1',
          ports: String(silent.port),
          serviceDetection: true,
          timing: 2,
        });
        const id = ((await res.json()) as LooseJson).id;
        await waitForStatus(t, operator, id, ['running']);
        await new Promise((r) => setTimeout(r, 300));
        const started = Date.now();
        await t.request(`/v1/executions/${id}/cancel`, {
          method: 'POST',
          token: operator.token,
          tenant: slug,
        });
        const done = await waitForStatus(t, operator, id);
        expect(done.status).toBe('cancelled');
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        await silent.close();
      }
    });

    it('hides executions from other tenants (404) and, without tools:manage, from other users', async () => {
      const res = await execute(t, owner, 'hash-identify', { hash: 'd41d8cd98f00b204e9800998ecf8427e' });
      const id = ((await res.json()) as LooseJson).id;
      const done = await waitForStatus(t, owner, id);
      expect(done.result.candidates.map((c: LooseJson) => c.name)).toContain('MD5');
      const stranger = await t.user({ role: 'owner' });
      expect((await get(`/v1/executions/${id}`, stranger)).status).toBe(404);
      expect(
        (
          await t.request(`/v1/executions/${id}`, {
            method: 'DELETE',
            token: stranger.token,
            tenant: stranger.tenantSlug,
          })
        ).status,
      ).toBe(404);
      expect((await get(`/v1/executions/${id}`, operator)).status).toBe(404);
      const member = await t.user({ tenant: slug, role: 'member' });
      const list = (await (await get('/v1/executions', member)).json()) as LooseJson;
      expect(list.items).toEqual([]);
    });

    it('keeps secret parameters out of the events and the answer', async () => {
      const res = await execute(t, operator, 'password-strength', {
        password: 'correct-horse-battery-staple',
      });
      const body = (await res.json()) as LooseJson;
      expect(body.parameters.password).toBe('[redacted]');
      const done = await waitForStatus(t, operator, body.id);
      expect(done.status).toBe('completed');
      expect(done.result.length).toBe(28);
      const events = await t.store.readStream(`tools.Execution-${body.id}`);
      expect(JSON.stringify(events.map((e) => e.data))).not.toContain('correct-horse');
    });

    it('reruns an execution and compares the two: the port closed in between', async () => {
      const open = await openPort();
      const res = await execute(t, operator, 'port-scan', { host: '127.0.0.1', ports: String(open.port) });
      const first = await waitForStatus(t, operator, ((await res.json()) as LooseJson).id);
      await open.close();
      const rerun = await t.request(`/v1/executions/${first.id}/rerun`, {
        method: 'POST',
        token: operator.token,
        tenant: slug,
      });
      expect(rerun.status).toBe(202);
      const second = await waitForStatus(t, operator, ((await rerun.json()) as LooseJson).id);
      expect(second.rerun_of).toBe(first.id);
      const diff = (await (
        await get(`/v1/executions/${first.id}/compare/${second.id}`, operator)
      ).json()) as LooseJson;
      expect(diff.ports).toEqual({ opened: [], closed: [open.port] });
    });
  });
}
