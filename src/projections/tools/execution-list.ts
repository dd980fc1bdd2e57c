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
  async apply(event: Recorded<ExecutionEvent>, db: Kysely<ExecutionListTables>) {
    const recorded = event;
    const common = { revision: recorded.revision, position: recorded.position.toString() };
    if (event.type === 'ExecutionQueued') {
      const d = event.data;
      await db
        .insertInto('tool_execution_list')
        .values({
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
          ...common,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      return;
    }
    const changes = (() => {
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
    })();
    await db
      .updateTable('tool_execution_list')
      .set({ ...changes, ...common })
      .where('id', '=', event.data.executionId)
      .where('revision', '<', recorded.revision)
      .execute();
  },
  // Every event names its execution, and writes that execution's row alone.
  entityOf: (event) => event.data.executionId,
});
