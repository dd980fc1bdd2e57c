import type { Kysely } from 'kysely';
import { type ExecutionEvent, executionEventTypes } from '../../commands/tools/index.ts';
import { defineProjection, type Recorded } from '../engine/index.ts';

export interface ExecutionListTable {
  id: string;
  tenant_id: string;
  tool_id: string;
  actor_id: string;
  target: string | null;
  status: string;
  progress: number;
  exit_code: number | null;
  rerun_of: string | null;
  queued_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  revision: number;
  position: string;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type ExecutionListTables = { tool_execution_list: ExecutionListTable };

const finalStatus: Partial<Record<ExecutionEvent['type'], string>> = {
  ExecutionCompleted: 'completed',
  ExecutionFailed: 'failed',
  ExecutionCancelled: 'cancelled',
  ExecutionTimedOut: 'timed_out',
  ExecutionInterrupted: 'interrupted',
};

/** One row per execution: the execution history reads it, with filters (an execution itself is read from its events). */
export const executionList = defineProjection<ExecutionEvent, ExecutionListTables>()({
  name: 'toolExecutionList',
  version: 1,
  types: executionEventTypes,
  tables: ['tool_execution_list'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('tool_execution_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('tool_id', 'text', (c) => c.notNull())
      .addColumn('actor_id', 'text', (c) => c.notNull())
      .addColumn('target', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('progress', 'real', (c) => c.notNull())
      .addColumn('exit_code', 'integer')
      .addColumn('rerun_of', 'uuid')
      .addColumn('queued_at', 'timestamptz', (c) => c.notNull())
      .addColumn('started_at', 'timestamptz')
      .addColumn('finished_at', 'timestamptz')
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('tool_execution_list_tenant_queued')
      .on('tool_execution_list')
      .columns(['tenant_id', 'queued_at', 'id'])
      .execute();
  },
  apply: (event, db) => foldExecutions([event], db),
  applyBatch: foldExecutions,
  // Every event names its execution, and writes that execution's row alone.
  entityOf: (event) => event.data.executionId,
});

type Queued = Extract<ExecutionEvent, { type: 'ExecutionQueued' }>;

/**
 * Folds events into rows, set-based: new executions in one insert (one already there, a replayed
 * queueing, is left as it is); an execution with one other event in the batch takes it as one update
 * guarded by revision, as `apply` did event by event (the live path's usual page: no read); one with
 * several has its row's revision read (one query for all of them), its events folded in memory from
 * there, and one update. Either way an event the row already has by revision changes nothing, and
 * one without changes of its own still moves the row's revision and position.
 */
async function foldExecutions(
  events: readonly Recorded<ExecutionEvent>[],
  db: Kysely<ExecutionListTables>,
): Promise<void> {
  const queued = events.filter((e): e is Recorded<Queued> => e.type === 'ExecutionQueued');
  for (let i = 0; i < queued.length; i += 500) {
    await db
      .insertInto('tool_execution_list')
      .values(queued.slice(i, i + 500).map(queuedRow))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
  const byExecution = new Map<string, Recorded<Exclude<ExecutionEvent, Queued>>[]>();
  for (const event of events) {
    if (event.type === 'ExecutionQueued') continue;
    const list = byExecution.get(event.data.executionId);
    if (list) list.push(event);
    else byExecution.set(event.data.executionId, [event]);
  }
  const several = [...byExecution].filter(([, list]) => list.length > 1).map(([id]) => id);
  const stored =
    several.length === 0
      ? new Map<string, number>()
      : new Map(
          (
            await db
              .selectFrom('tool_execution_list')
              .select(['id', 'revision'])
              .where('id', 'in', several)
              .execute()
          ).map((r) => [r.id, Number(r.revision)]),
        );
  for (const [id, list] of byExecution) {
    const update = db.updateTable('tool_execution_list').where('id', '=', id);
    if (list.length === 1) {
      const [event] = list as [Recorded<Exclude<ExecutionEvent, Queued>>];
      await update
        .set({ ...changesOf(event), revision: event.revision, position: event.position.toString() })
        .where('revision', '<', event.revision)
        .execute();
      continue;
    }
    let revision = stored.get(id);
    if (revision === undefined) continue;
    const changes: Partial<ExecutionListTable> = {};
    for (const event of list) {
      if (revision >= event.revision) continue;
      Object.assign(changes, changesOf(event), {
        revision: event.revision,
        position: event.position.toString(),
      });
      revision = event.revision;
    }
    if (Object.keys(changes).length > 0) await update.set(changes).execute();
  }
}

function queuedRow(event: Recorded<Queued>): ExecutionListTable {
  const d = event.data;
  return {
    id: d.executionId,
    tenant_id: d.tenantId,
    tool_id: d.toolId,
    actor_id: d.actorId,
    target: d.target,
    status: 'queued',
    progress: 0,
    exit_code: null,
    rerun_of: d.rerunOf,
    queued_at: new Date(d.at),
    started_at: null,
    finished_at: null,
    revision: event.revision,
    position: event.position.toString(),
  };
}

/** What an event after the queueing changes in its execution's row. */
function changesOf(event: Recorded<Exclude<ExecutionEvent, Queued>>): Partial<ExecutionListTable> {
  switch (event.type) {
    case 'ExecutionStarted':
      return { status: 'running', started_at: new Date(event.data.at) };
    case 'ExecutionProgressed':
      return { progress: event.data.progress };
    case 'ExecutionCompleted':
      return {
        status: 'completed',
        progress: 1,
        exit_code: event.data.exitCode,
        finished_at: new Date(event.data.at),
      };
    case 'ExecutionFailed':
      return { status: 'failed', exit_code: event.data.exitCode, finished_at: new Date(event.data.at) };
    case 'ExecutionCancelled':
    case 'ExecutionTimedOut':
    case 'ExecutionInterrupted':
      return { status: finalStatus[event.type]!, finished_at: new Date(event.data.at) };
    default:
      return {};
  }
}
