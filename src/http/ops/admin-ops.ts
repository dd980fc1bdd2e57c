import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Tables } from '../../db/tables.ts';
import { type JobTables, listWorkers, queueDepth } from '../../processes/runtime/index.ts';
import type { PackageListTables, PackageRequestTables } from '../../projections/packages/index.ts';
import { packageStats } from '../../projections/packages/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commonProblems,
  jsonContent,
  problemContent,
  RequestError,
  readTables,
  validationHook,
} from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';

const Stats = z
  .object({
    tenant_id: z.uuid().nullable().meta({ description: 'null: every tenant (platform superadmin)' }),
    packages: z.object({
      counts: z.record(z.string(), z.number().int()),
      stages: z.array(
        z.object({
          stage: z.string(),
          count: z.number().int(),
          p50_ms: z.number().int().nullable(),
          p95_ms: z.number().int().nullable(),
        }),
      ),
    }),
    queues: z.array(
      z.object({
        queue: z.string(),
        kind: z.string(),
        due: z.number().int(),
        running: z.number().int(),
        delayed: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'AdminStats' });

const WorkerView = z
  .object({
    id: z.string(),
    host: z.string(),
    pid: z.number().int(),
    state: z.enum(['live', 'stopped', 'missing']),
    processes: z.array(z.string()),
    heartbeat_age_ms: z.number().int(),
    started_at: z.iso.datetime(),
    handled: z.number().int(),
    partitions: z.array(z.object({ process: z.string(), partition: z.number().int(), position: z.string() })),
    jobs: z.array(
      z.object({
        queue: z.string(),
        stage: z.string(),
        subject: z.string(),
        spec: z.string().nullable(),
        attempts: z.number().int(),
        running_ms: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'Worker' });

/** `/v1/admin/stats` (packages by status, stage durations, queue depth) and `/v1/admin/workers`. */
export function adminOpsRoutes(deps: { db: Kysely<Tables> }) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = readTables<JobTables>(deps.db);
  const packages = readTables<PackageListTables & PackageRequestTables>(deps.db);
  app.use('/v1/admin/stats', requirePermission('packages:approve', 'tenant:manage', 'platform:manage'));
  app.use('/v1/admin/workers', requirePermission('platform:manage'));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/stats',
      tags: ['Operations'],
      summary:
        'Packages by status, stage durations (p50/p95) and job queue depth; the tenant’s, or every tenant’s for the superadmin',
      responses: {
        200: jsonContent(Stats, 'Statistics'),
        ...commonProblems,
        401: problemContent('No valid access token'),
        403: problemContent('Needs packages:approve, tenant:manage or platform:manage'),
      },
    }),
    async (c) => {
      const tenant = c.get('tenant');
      const principal = c.get('principal');
      if (!tenant && !principal?.platformSuperadmin) {
        throw new RequestError(
          404,
          'tenant-not-found',
          'name a tenant (only the platform superadmin sees all)',
        );
      }
      const [stats, queues] = await Promise.all([packageStats(packages, tenant?.id), queueDepth(db)]);
      return c.json({ tenant_id: tenant?.id ?? null, packages: stats, queues }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/workers',
      tags: ['Operations'],
      summary: 'Each worker: state, heartbeat age, partitions it owns and the jobs it runs (stage, package)',
      responses: {
        200: jsonContent(z.object({ items: z.array(WorkerView) }), 'Workers'),
        ...commonProblems,
        401: problemContent('No valid access token'),
        403: problemContent('Platform superadmin only'),
      },
    }),
    async (c) => {
      const [workers, jobs, now] = await Promise.all([
        listWorkers({ db: deps.db }),
        db
          .selectFrom('warden_jobs')
          .select(['queue', 'kind', 'subject', 'payload', 'attempts', 'locked_by'])
          .select(
            sql<number>`extract(epoch from (now() - coalesce(claimed_at, now()))) * 1000`.as('running_ms'),
          )
          .where('locked_until', '>', sql<Date>`now()`)
          .execute(),
        sql<{ now: Date }>`select now() as now`.execute(db),
      ]);
      const dbNow = new Date(now.rows[0]!.now).getTime();
      return c.json(
        {
          items: workers.map((w) => ({
            id: w.id,
            host: w.host,
            pid: w.pid,
            state: w.state,
            processes: w.processes,
            heartbeat_age_ms: Math.max(0, dbNow - new Date(w.lastHeartbeat).getTime()),
            started_at: new Date(w.startedAt).toISOString(),
            handled: w.handled,
            partitions: w.partitions.map((p) => ({
              process: p.process,
              partition: p.partition,
              position: p.position.toString(),
            })),
            jobs: jobs
              .filter((j) => j.locked_by === w.id)
              .map((j) => {
                const payload = (typeof j.payload === 'string' ? JSON.parse(j.payload) : j.payload) as {
                  spec?: string;
                };
                return {
                  queue: j.queue,
                  stage: j.kind,
                  subject: j.subject,
                  spec: payload?.spec ?? null,
                  attempts: j.attempts,
                  running_ms: Math.max(0, Math.round(Number(j.running_ms))),
                };
              }),
          })),
        },
        200,
      );
    },
  );
  return app;
}
