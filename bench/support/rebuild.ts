import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../src/db/database.ts';
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.ts';
import type { Projection } from '../../src/projections/engine/projection.ts';

export interface RebuildFigure {
  /** Rebuild of the projection with its set-based `applyBatch` (what the engine uses when offered). */
  eventsPerSecond: number | null;
  /** The same projection without `applyBatch`: one `apply` (one statement) per event. */
  perEventEventsPerSecond: number | null;
  events: number | null;
  note: string;
}

/** What the benchmark uses of the projection engine; read structurally so the bench builds without it. */
interface EngineModule {
  ProjectionEngine: new (options: {
    database: Database;
    store: EventStore;
    projections: readonly Projection[];
  }) => {
    rebuild(name: string): Promise<{ events: number; seconds: number; eventsPerSecond: number }>;
    stop(): Promise<void>;
  };
}

const ENGINE = fileURLToPath(new URL('../../src/projections/engine/engine.ts', import.meta.url));

type SettingsTables = {
  bench_tenant_settings: {
    tenant_id: string;
    name: string;
    plan: string;
    seats: number;
    changes: number;
    position: string;
  };
};

interface SettingsData {
  tenantId: string;
  name: string;
  plan: string;
  seats: number;
}

/**
 * A simple read model: each tenant's latest settings and how many changes it had. `apply` upserts
 * one row per event; `applyBatch` folds a batch in memory and upserts each tenant once, leaving the
 * same rows.
 */
function tenantSettings(name: string, batched: boolean): Projection<SettingsTables> {
  const upsert = (db: Kysely<SettingsTables>, rows: SettingsTables['bench_tenant_settings'][]) =>
    db
      .insertInto('bench_tenant_settings')
      .values(rows)
      .onConflict((oc) =>
        oc.column('tenant_id').doUpdateSet((eb) => ({
          name: eb.ref('excluded.name'),
          plan: eb.ref('excluded.plan'),
          seats: eb.ref('excluded.seats'),
          changes: sql<number>`bench_tenant_settings.changes + excluded.changes`,
          position: eb.ref('excluded.position'),
        })),
      )
      .execute();
  const row = (event: RecordedEvent, changes: number) => {
    const data = event.data as SettingsData;
    return {
      tenant_id: data.tenantId,
      name: data.name,
      plan: data.plan,
      seats: data.seats,
      changes,
      position: event.position.toString(),
    };
  };
  return {
    name,
    version: 1,
    types: ['TenantSettingsChanged'],
    tables: ['bench_tenant_settings'],
    async createTables(db) {
      await db.schema
        .createTable('bench_tenant_settings')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('plan', 'text', (c) => c.notNull())
        .addColumn('seats', 'integer', (c) => c.notNull())
        .addColumn('changes', 'integer', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
    },
    async apply(event, db) {
      await upsert(db, [row(event, 1)]);
    },
    ...(batched
      ? {
          async applyBatch(events: readonly RecordedEvent[], db: Kysely<SettingsTables>) {
            const latest = new Map<string, SettingsTables['bench_tenant_settings']>();
            for (const event of events) {
              const next = row(event, 1);
              next.changes += latest.get(next.tenant_id)?.changes ?? 0;
              latest.set(next.tenant_id, next);
            }
            await upsert(db, [...latest.values()]);
          },
        }
      : {}),
  };
}

/**
 * Rebuilds the simple projection over every event in `store` through the projection engine's
 * zero-downtime rebuild, once with `applyBatch` and, over `perEventStore` (a smaller log), once with
 * `apply` alone. Null figures while the engine does not exist.
 */
export async function measureRebuild(
  database: Database,
  store: EventStore,
  perEvent: { database: Database; store: EventStore },
): Promise<RebuildFigure> {
  if (!existsSync(ENGINE)) {
    return {
      eventsPerSecond: null,
      perEventEventsPerSecond: null,
      events: null,
      note: 'projection engine not present (src/projections/engine/engine.ts): rebuild not measured',
    };
  }
  const engineModule = (await import(pathToFileURL(ENGINE).href)) as Partial<EngineModule>;
  if (typeof engineModule.ProjectionEngine !== 'function') {
    return {
      eventsPerSecond: null,
      perEventEventsPerSecond: null,
      events: null,
      note: 'src/projections/engine/engine.ts has no ProjectionEngine with rebuild(): rebuild not measured',
    };
  }
  const rebuildOnce = async (db: Database, s: EventStore, projection: Projection<SettingsTables>) => {
    const engine = new engineModule.ProjectionEngine!({
      database: db,
      store: s,
      projections: [projection as Projection],
    });
    try {
      return await engine.rebuild(projection.name);
    } finally {
      await engine.stop();
    }
  };
  const batched = await rebuildOnce(database, store, tenantSettings('benchTenantSettings', true));
  const single = await rebuildOnce(
    perEvent.database,
    perEvent.store,
    tenantSettings('benchTenantSettingsPerEvent', false),
  );
  return {
    eventsPerSecond: batched.eventsPerSecond,
    perEventEventsPerSecond: single.eventsPerSecond,
    events: batched.events,
    note:
      `rebuild: ProjectionEngine.rebuild() of a per-tenant settings projection over ${batched.events} events ` +
      `(applyBatch: one upsert per tenant per batch) in ${batched.seconds.toFixed(2)} s; ` +
      `without applyBatch (one upsert per event) over ${single.events} events: ${Math.round(single.eventsPerSecond)} events/s`,
  };
}
