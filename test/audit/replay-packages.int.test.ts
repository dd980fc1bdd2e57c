import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReplayPoint, replayStream } from '../../src/audit/replay.ts';
import { handle } from '../../src/commands/kernel/handle.ts';
import {
  defaultPolicy,
  packageDecider,
  packageIdFor,
  packageStreamId,
  policyStreamId,
  requestStreamId,
  setPolicy,
  submitRequest,
} from '../../src/commands/packages/index.ts';
import { aggregateRegistry } from '../../src/commands/registry/index.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { upcasters } from '../../src/eventstore/upcasters.ts';
import { upcastingStore } from '../../src/eventstore/upcasting.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

const registry = aggregateRegistry();
const t0 = Date.parse('2026-03-01T10:00:00Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();

/** Replay of the packages context's aggregates: a request, a package through its pipeline, the policy. */
for (const kind of databaseKinds) {
  describe(`replay of packages aggregates (${kind.name})`, () => {
    let db: TestDatabase;
    let store: EventStore;
    const tenantId = crypto.randomUUID();
    const by = crypto.randomUUID();
    const context = { metadata: { tenantId, actorId: by } };
    beforeAll(async () => {
      db = await kind.fresh();
      store = upcastingStore(postgresEventStore(db.database), upcasters);
    });
    afterAll(async () => {
      await db.dispose();
    });
    const replay = async (streamId: string, point: ReplayPoint) => {
      const outcome = await replayStream(store, registry, streamId, point);
      if (!outcome.ok) throw new Error(outcome.reason);
      return outcome.result as { revision: number; entity: string; state: Record<string, unknown> };
    };

    it('a request, a package moved through its stages, and the policy, at each revision', async () => {
      const requestId = crypto.randomUUID();
      await submitRequest(
        store,
        {
          requestId,
          tenantId,
          by,
          lockfileFormat: 'package-lock',
          lockfileVersion: 3,
          project: 'demo',
          packages: [],
          rejected: [],
          at: at(0),
          limit: null,
        },
        context,
      );
      const request = await replay(requestStreamId(requestId), { kind: 'latest' });
      expect(request).toMatchObject({ entity: 'packages.Request', revision: 0 });
      expect(request.state).toMatchObject({ exists: true, requestId, tenantId, by });

      const packageId = await packageIdFor(tenantId, 'left-pad@1.3.0');
      const stream = packageStreamId(packageId);
      const receive = {
        type: 'ReceivePackage' as const,
        packageId,
        tenantId,
        name: 'left-pad',
        version: '1.3.0',
        integrity: null,
        lockfileLicense: 'MIT',
        requestId,
        at: at(1),
      };
      await handle(store, stream, packageDecider, receive, context);
      await handle(store, stream, packageDecider, { type: 'StartProcessing', at: at(2) }, context);
      await handle(
        store,
        stream,
        packageDecider,
        {
          type: 'RejectAutomatically',
          stage: 'license',
          code: 'license_denied',
          reason: 'GPL-3.0 is denied',
          policy: null,
          at: at(3),
        },
        context,
      );
      const [received, started, rejected, before] = await Promise.all([
        replay(stream, { kind: 'revision', revision: 0 }),
        replay(stream, { kind: 'revision', revision: 1 }),
        replay(stream, { kind: 'latest' }),
        replay(stream, { kind: 'time', at: new Date('2000-01-01T00:00:00Z') }),
      ]);
      expect(received).toMatchObject({ entity: 'packages.Package', revision: 0 });
      expect(received.state).toMatchObject({ exists: true, spec: 'left-pad@1.3.0', status: 'received' });
      expect(started.state.status).not.toBe('received');
      expect(rejected.state.status).toBe('rejected');
      expect(before).toMatchObject({ revision: -1 });
      expect(before.state.exists).toBe(false);

      // The default policy is the initial state: setting it changes nothing, so flip one rule first.
      const mode = defaultPolicy.mode === 'enforce' ? ('warn' as const) : ('enforce' as const);
      await setPolicy(store, { tenantId, policy: { ...defaultPolicy, mode }, by, at: at(4) }, context);
      await setPolicy(
        store,
        {
          tenantId,
          policy: { ...defaultPolicy, auto_approve_clean: !defaultPolicy.auto_approve_clean },
          by,
          at: at(5),
        },
        context,
      );
      const first = await replay(policyStreamId(tenantId), { kind: 'revision', revision: 0 });
      const second = await replay(policyStreamId(tenantId), { kind: 'latest' });
      expect(first.entity).toBe('packages.Policy');
      expect(first.state).toMatchObject({ version: 1, policy: { mode } });
      expect(second.state).toMatchObject({
        version: 2,
        policy: { mode: defaultPolicy.mode, auto_approve_clean: !defaultPolicy.auto_approve_clean },
      });
      expect(JSON.stringify(first.state)).not.toBe(JSON.stringify(second.state));
      expect(second.revision).toBe(1);
    });
  });
}
