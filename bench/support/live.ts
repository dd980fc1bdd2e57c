import { randomUUID } from 'node:crypto';
import type { Database } from '../../src/db/database.ts';
import type { EventStore, NewEvent } from '../../src/eventstore/port.ts';
import { transactionalStore } from '../../src/eventstore/postgres/transactional-store.ts';
import { ProjectionEngine } from '../../src/projections/engine/index.ts';
import type { Projection } from '../../src/projections/engine/projection.ts';
import { issueList } from '../../src/projections/tracker/index.ts';
import type { CpuCost, CpuWindow } from './cpu.ts';

/*
 * The tracker's issue list (one row per issue, its search vector and fourteen indexes) over a backlog
 * of issue histories: what the live runner catches up after a stop, and what a rebuild replays.
 */

const WRITERS = 8;
const APPENDS_PER_TRANSACTION = 250;
/** Each issue: created and assigned in one append, later edited and moved in another. */
export const EVENTS_PER_ISSUE = 4;

export interface LiveFigure {
  /** The live runner catching up the backlog: events of the issue list's types per second. */
  liveEventsPerSecond: number;
  liveSeconds: number;
  /** CPU per event of the catch-up: this process and the pool's backends. */
  liveCpu: CpuCost;
  /** `ProjectionEngine.rebuild()` of the same read model over the same log. */
  rebuildEventsPerSecond: number;
  rebuildSeconds: number;
  /** CPU per event of the rebuild (its index builds' parallel workers, if any, are not the pool's). */
  rebuildCpu: CpuCost;
  /** The same rebuild without `applyBatch` (one `apply` per event), over a smaller log of its own. */
  perEventEventsPerSecond: number;
  perEventEvents: number;
  events: number;
  pageSize: number;
  note: string;
}

const words = ['ledger', 'queue', 'render', 'socket', 'cache', 'token', 'schema', 'router', 'index', 'pager'];
const text = (seed: number, n: number) =>
  Array.from({ length: n }, (_, i) => words[(seed * 7 + i * 3) % words.length]).join(' ');

/**
 * Appends `issues` issue histories in two rounds (creations, then changes to issues created long
 * before), so catch-up pages both insert rows and update rows they must read first.
 */
export async function loadIssueBacklog(database: Database, issues: number): Promise<number> {
  const tenantId = randomUUID();
  const projects = Array.from({ length: 20 }, () => randomUUID());
  const people = Array.from({ length: 50 }, () => randomUUID());
  const ids = Array.from({ length: issues }, () => randomUUID());
  const at = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
  const meta = { tenantId, actorId: people[0]! };
  const event = (type: string, data: Record<string, unknown>): NewEvent => ({
    id: randomUUID(),
    type,
    data,
    metadata: meta,
  });
  const issue = (i: number) => ({ issueId: ids[i]!, projectId: projects[i % projects.length]!, tenantId });
  const created = (i: number): NewEvent[] => [
    event('IssueCreated', {
      ...issue(i),
      number: Math.floor(i / projects.length) + 1,
      key: `P${i % projects.length}-${Math.floor(i / projects.length) + 1}`,
      title: text(i, 5),
      description: text(i + 1, 30),
      type: ['bug', 'task', 'story'][i % 3],
      priority: ['lowest', 'low', 'medium', 'high', 'highest'][i % 5],
      labels: i % 3 === 0 ? ['api'] : [],
      dueDate: i % 4 === 0 ? '2026-06-30' : null,
      assigneeId: null,
      reporterId: people[i % people.length],
      at: at(i),
    }),
    event('IssueAssigned', {
      ...issue(i),
      assigneeId: people[(i + 1) % people.length],
      previous: null,
      at: at(i),
      by: people[0],
    }),
  ];
  const changed = (i: number): NewEvent[] => [
    event('IssueEdited', {
      ...issue(i),
      changes: { title: text(i + 2, 6), priority: 'high' },
      at: at(issues + i),
      by: people[0],
    }),
    event('IssueStatusChanged', {
      ...issue(i),
      from: 'open',
      to: i % 2 === 0 ? 'in_progress' : 'done',
      resolution: i % 2 === 0 ? null : 'fixed',
      duplicateOf: null,
      reason: null,
      at: at(issues + i),
      by: people[0],
    }),
  ];
  const round = async (events: (i: number) => NewEvent[], first: boolean) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < issues) {
          const from = next;
          next += APPENDS_PER_TRANSACTION;
          await database.db.transaction().execute(async (trx) => {
            const store = transactionalStore(database, trx, false);
            for (let i = from; i < Math.min(from + APPENDS_PER_TRANSACTION, issues); i++) {
              await store.append(`tracker.Issue-${ids[i]}`, events(i), {
                expected: first ? 'no_stream' : 1,
              });
            }
          });
        }
      }),
    );
  };
  await round(created, true);
  await round(changed, false);
  return issues * EVENTS_PER_ISSUE;
}

/**
 * Catches the issue list up over `store`'s backlog with the real engine (its live runner, from
 * checkpoint 0, pages of the engine's default size unless `pageSize`), then rebuilds it over the
 * same log; and rebuilds a per-event copy over `perEvent`'s smaller backlog. `cpu` opens a window on
 * this process and the target pool's backends: both runs are CPU-bound, so their cost per event
 * bounds what the machine's cores allow, whatever the load.
 */
export async function measureLive(
  target: { database: Database; store: EventStore; events: number; cpu: () => Promise<CpuWindow> },
  perEvent: { database: Database; store: EventStore; events: number },
  pageSize?: number,
): Promise<LiveFigure> {
  const head = await target.store.headPosition();
  const engine = new ProjectionEngine({
    database: target.database,
    store: target.store,
    projections: [issueList],
    ...(pageSize === undefined ? {} : { batchSize: pageSize }),
  });
  let liveSeconds: number;
  let liveCpu: CpuCost;
  let rebuild: { eventsPerSecond: number; seconds: number; events: number };
  let rebuildCpu: CpuCost;
  try {
    const window = await target.cpu();
    window.start();
    const started = performance.now();
    await engine.start();
    if (!(await engine.waitFor('issueList', head, 3_600_000))) {
      throw new Error(`the issue list did not catch up: ${JSON.stringify(await engine.status())}`);
    }
    liveSeconds = (performance.now() - started) / 1000;
    liveCpu = window.stop(target.events);
    window.start();
    rebuild = await engine.rebuild('issueList');
    rebuildCpu = window.stop(rebuild.events);
  } finally {
    await engine.stop();
  }
  const { applyBatch: _, ...withoutBatch } = issueList;
  const single = new ProjectionEngine({
    database: perEvent.database,
    store: perEvent.store,
    projections: [{ ...withoutBatch, name: 'issueListPerEvent' } as Projection],
  });
  let perEventRebuild: { eventsPerSecond: number };
  try {
    perEventRebuild = await single.rebuild('issueListPerEvent');
  } finally {
    await single.stop();
  }
  const used = pageSize ?? 1000;
  return {
    liveEventsPerSecond: target.events / liveSeconds,
    liveSeconds,
    liveCpu,
    rebuildEventsPerSecond: rebuild.eventsPerSecond,
    rebuildSeconds: rebuild.seconds,
    rebuildCpu,
    perEventEventsPerSecond: perEventRebuild.eventsPerSecond,
    perEventEvents: perEvent.events,
    events: target.events,
    pageSize: used,
    note:
      `live projection and rebuild: the tracker issue list (one row per issue) over ${target.events} events of ` +
      `${target.events / EVENTS_PER_ISSUE} issues (created+assigned in one append, edited+moved in a later one); ` +
      `live: ProjectionEngine.start() from checkpoint 0 to the head in ${liveSeconds.toFixed(2)} s, pages of ${used} ` +
      `with applyBatch, each in one transaction with the checkpoint; rebuild: ProjectionEngine.rebuild() in ` +
      `${rebuild.seconds.toFixed(2)} s; without applyBatch (one apply per event) over ${perEvent.events} events: ` +
      `${Math.round(perEventRebuild.eventsPerSecond)} events/s`,
  };
}
