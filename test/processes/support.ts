import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Config } from '../../src/config.ts';
import type { Database } from '../../src/db/database.ts';
import type { EventStore, NewEvent } from '../../src/eventstore/port.ts';
import { transactionBindingFor } from '../../src/eventstore/postgres/transactional-store.ts';
import { startPackageJobs } from '../../src/processes/packages/jobs.ts';
import { processManagers } from '../../src/processes/registry.ts';
import { type ProcessLogger, startWorkers, type Worker } from '../../src/processes/runtime/index.ts';
import type { KeySealer } from '../../src/workspaces/index.ts';
import { EFFECT_TYPE, SOURCE_TYPE } from './fixtures/sample-process.ts';

/**
 * Every process manager the service runs, in a worker on a test app's database and store, with short
 * heartbeats and leases so tests see hand-overs quickly.
 */
export function serviceWorkers(t: {
  database: Database;
  store: EventStore;
  identity?: { sealer?: KeySealer };
}): Promise<Worker> {
  return startWorkers({
    database: t.database,
    store: t.store,
    // Workspace provisioning opens the sealed agent keys with it.
    ...(t.identity?.sealer ? { sealer: t.identity.sealer } : {}),
    storeIn: transactionBindingFor(t.database, t.store),
    processes: processManagers,
    heartbeatMs: 100,
    leaseMs: 3000,
  });
}

/** The package pipeline's job runner beside `serviceWorkers`, polling and backing off fast (tests). */
export function testPackageJobs(t: { config: Config; database: Database; store: EventStore }, owner: string) {
  return startPackageJobs({
    config: t.config,
    database: t.database,
    store: t.store,
    storeIn: transactionBindingFor(t.database, t.store),
    owner,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    pollMs: 50,
    backoffMs: () => 50,
  });
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Appends `count` source events spread over `streams` streams, `perAppend` at a time, 8 writers at once. */
export async function appendSources(
  store: EventStore,
  count: number,
  options: { streams?: number; perAppend?: number; prefix?: string } = {},
): Promise<string[]> {
  const streams = options.streams ?? 100;
  const perAppend = options.perAppend ?? 5;
  const prefix = options.prefix ?? `test.Source-${randomUUID().slice(0, 8)}`;
  const batches: { streamId: string; events: NewEvent[] }[] = [];
  for (let i = 0; i < count; i += perAppend) {
    const events = Array.from({ length: Math.min(perAppend, count - i) }, (_, j) => ({
      id: randomUUID(),
      type: SOURCE_TYPE,
      data: { n: i + j },
      metadata: { tenantId: 'default', correlationId: randomUUID() },
    }));
    batches.push({ streamId: `${prefix}-${(i / perAppend) % streams}`, events });
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        await store.append(batch.streamId, batch.events);
      }
    }),
  );
  return batches.flatMap((b) => b.events.map((e) => e.id));
}

export interface Handlings {
  total: number;
  distinct: number;
  byWorker: Record<string, number>;
}

export async function handlings(database: Database): Promise<Handlings> {
  const { rows } = await sql<{ worker: string; n: string; d: string }>`
    select worker, count(*) as n, count(distinct event_id) as d from test_handlings group by rollup (worker)`.execute(
    database.db,
  );
  const total = rows.find((r) => r.worker === null);
  return {
    total: Number(total?.n ?? 0),
    distinct: Number(total?.d ?? 0),
    byWorker: Object.fromEntries(rows.filter((r) => r.worker !== null).map((r) => [r.worker, Number(r.n)])),
  };
}

export async function handlingCount(database: Database): Promise<number> {
  const { rows } = await sql<{ n: string }>`select count(*) as n from test_handlings`.execute(database.db);
  return Number(rows[0]!.n);
}

/** The effects stream: how many effects, how many distinct sources, and the sources themselves. */
export async function effects(store: EventStore, streamId: string) {
  const sources: string[] = [];
  for (let from = 0; ; ) {
    const page = await store.readStream(streamId, { from, limit: 5000 });
    for (const event of page) {
      if (event.type === EFFECT_TYPE) sources.push((event.data as { source: string }).source);
    }
    if (page.length < 5000) break;
    from = page[page.length - 1]!.revision + 1;
  }
  return { count: sources.length, distinct: new Set(sources).size, sources };
}

/** A logger that keeps every line, so a test can wait for one. */
export function capturingLogger(): ProcessLogger & {
  lines: { level: string; message: string; object: object }[];
} {
  const lines: { level: string; message: string; object: object }[] = [];
  const at = (level: string) => (object: object, message: string) => {
    lines.push({ level, message, object });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
