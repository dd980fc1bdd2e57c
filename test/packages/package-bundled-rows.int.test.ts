import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type PackageEvent,
  packageEventSchemas,
  packageStreamId,
} from '../../src/commands/packages/index.ts';
import type { NewEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { ProjectionEngine } from '../../src/projections/engine/index.ts';
import { packageList } from '../../src/projections/packages/index.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten } from '../support/visibility.ts';

const at = '2026-05-01T00:00:00.000Z';

/** A package's events, each checked against its schema as the decider would have. */
function packageEvents(tenantId: string, name: string) {
  const packageId = randomUUID();
  const pkg = { packageId, tenantId, spec: `${name}@1.0.0`, at };
  const event = (e: PackageEvent): NewEvent => {
    packageEventSchemas[e.type].parse(e.data);
    return { id: randomUUID(), type: e.type, data: e.data, metadata: { tenantId, actorId: 'test' } };
  };
  const scanned = (bundled?: { name: string; version: string }[]) =>
    event({
      type: 'PackageScanned',
      data: { ...pkg, findings: [], advisories: 'osv-1', unavailable: [], ...(bundled ? { bundled } : {}) },
    });
  return {
    packageId,
    streamId: packageStreamId(packageId),
    received: event({
      type: 'PackageReceived',
      data: {
        ...pkg,
        name,
        version: '1.0.0',
        integrity: null,
        lockfileLicense: 'MIT',
        requestId: randomUUID(),
      },
    }),
    scanned,
    waiting: event({ type: 'ApprovalRequired', data: { ...pkg, reasons: ['x'], policyVersion: 0 } }),
    retried: event({ type: 'PackageRetried', data: { ...pkg, by: 'u1', resume: 'received' } }),
  };
}

for (const kind of databaseKinds) {
  describe(`the package list's bundled packages (${kind.name})`, () => {
    let test: TestDatabase | undefined;
    let engine: ProjectionEngine | undefined;
    afterEach(async () => {
      await engine?.stop();
      await test?.dispose();
    });

    it('keeps what the latest scan bundles, per package and tenant; a scan from before it was recorded leaves none; a rebuild in small pages agrees', async () => {
      test = await kind.fresh();
      const { database } = test;
      const store = postgresEventStore(database, { pollIntervalMs: 20 });
      const [tenantA, tenantB] = [randomUUID(), randomUUID()];
      const rescanned = packageEvents(tenantA, 'rescanned');
      const old = packageEvents(tenantA, 'old');
      const elsewhere = packageEvents(tenantB, 'rescanned');
      await store.append(rescanned.streamId, [
        rescanned.received,
        rescanned.scanned([
          { name: 'dep', version: '1.0.0' },
          { name: 'other', version: '2.0.0' },
        ]),
        rescanned.waiting,
      ]);
      await store.append(old.streamId, [old.received, old.scanned()]);
      await store.append(elsewhere.streamId, [
        elsewhere.received,
        elsewhere.scanned([{ name: 'dep', version: '1.0.0' }]),
      ]);
      // Retried: scanned again, and the tarball now bundles another version.
      await store.append(rescanned.streamId, [
        rescanned.retried,
        rescanned.scanned([{ name: 'dep', version: '1.1.0' }]),
      ]);

      engine = new ProjectionEngine({
        database,
        store,
        projections: [packageList],
        pollIntervalMs: 20,
        rebuildBatchSize: 2,
      });
      await engine.start();
      expect(await engine.waitFor('packageList', await lastWritten(database.db), 30_000)).toBe(true);
      const rows = async () =>
        (
          await sql`select tenant_id, package_id, name, version from package_bundled order by tenant_id, package_id, name`.execute(
            database.db,
          )
        ).rows;
      const live = await rows();
      expect(live).toEqual(
        [
          { tenant_id: tenantA, package_id: rescanned.packageId, name: 'dep', version: '1.1.0' },
          { tenant_id: tenantB, package_id: elsewhere.packageId, name: 'dep', version: '1.0.0' },
        ].sort((a, b) => (a.tenant_id < b.tenant_id ? -1 : 1)),
      );
      await engine.rebuild('packageList');
      expect(await rows()).toEqual(live);
    });
  });
}
