import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oauthServerFor } from '../../src/http/app.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { viewAs } from '../../src/processes/runtime/index.ts';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { sweepExpired } from '../../src/sweep.ts';
import { expiredData, outputRetention, readFrames, type ToolOutputTables } from '../../src/tools/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { sseFrames } from '../support/sse.ts';
import { execute, toolTenant, toolWorker, waitForStatus } from './support.ts';

const DAY = 86_400_000;

/**
 * Output retention (WARDEN_OUTPUT_RETENTION_DAYS): a run's lines go once it began longer ago than
 * the retention; its final status stays (every stream of it still ends) and one status frame says
 * what went. The frames' times are set back in the table, as a run of that age would have them.
 */
for (const kind of databaseKinds) {
  describe(`output retention (${kind.name})`, () => {
    let t: TestApp;
    let db: Kysely<ToolOutputTables>;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      db = viewAs<ToolOutputTables>(t.database.db);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    /** A run of `lines` stdout frames between a `running` status and a final `completed`, begun `ageDays` ago. */
    async function run(lines: number, ageDays: number, options: { final?: boolean; running?: boolean } = {}) {
      const id = crypto.randomUUID();
      const frames = [
        ...(options.running === false ? [] : [{ kind: 'status', data: '{"status":"running"}' }]),
        ...Array.from({ length: lines }, (_, i) => ({ kind: 'stdout', data: `line ${i}\n` })),
        ...(options.final === false ? [] : [{ kind: 'status', data: '{"status":"completed"}' }]),
      ];
      const at = Date.now() - ageDays * DAY;
      await db
        .insertInto('warden_tool_output')
        .values(
          frames.map((f, i) => ({
            execution_id: id,
            seq: i + 1,
            kind: f.kind,
            data: f.data,
            at: new Date(at + i * 1000),
          })),
        )
        .execute();
      return id;
    }
    const framesOf = async (id: string) =>
      (await readFrames(db, id, 0)).map((f) => ({ seq: f.seq, kind: f.kind, data: f.data }));

    it('keeps an old run’s final status and one `expired` frame in place of the rest; recent runs, and runs of one frame, are untouched', async () => {
      const old = await run(4, 100);
      const recent = await run(4, 10);
      const single = await run(0, 100, { running: false });
      const pair = await run(1, 100, { running: false });
      const longer = await run(30, 95);
      const recentBefore = await framesOf(recent);
      const singleBefore = await framesOf(single);
      // Batches of two: the sweep goes on from where each batch stopped.
      const retention = outputRetention({ db, days: 90, batch: 2 });
      const removed = await retention.sweep();
      expect(removed).toBe(5 + 1 + 31);
      expect(await framesOf(old)).toEqual([
        { seq: 5, kind: 'status', data: expiredData(90, 5) },
        { seq: 6, kind: 'status', data: '{"status":"completed"}' },
      ]);
      expect(await framesOf(pair)).toEqual([
        { seq: 1, kind: 'status', data: expiredData(90, 1) },
        { seq: 2, kind: 'status', data: '{"status":"completed"}' },
      ]);
      expect((await framesOf(longer)).map((f) => f.seq)).toEqual([31, 32]);
      expect(await framesOf(recent)).toEqual(recentBefore);
      expect(await framesOf(single)).toEqual(singleBefore);

      // Again, and from a process that starts over: nothing more goes, nothing is marked twice.
      const after = await Promise.all([old, pair, longer].map(framesOf));
      expect(await retention.sweep()).toBe(0);
      expect(await outputRetention({ db, days: 90 }).sweep()).toBe(0);
      expect(await Promise.all([old, pair, longer].map(framesOf))).toEqual(after);
    });

    it('runs in the cleanup process, which counts the frames it removed (warden_cleanup_removed_total{kind="output_frames"})', async () => {
      const old = await run(2, 120);
      const metrics = createMetrics();
      const oauth = oauthServerFor({
        config: t.config,
        identity: t.identity,
        store: t.store,
        db: t.database.db,
      });
      const swept = await sweepExpired(
        t.identity,
        oauth,
        metrics,
        undefined,
        undefined,
        outputRetention({ db, days: 90 }),
      );
      expect(swept.output_frames).toBe(3);
      expect((await framesOf(old)).map((f) => f.seq)).toEqual([3, 4]);
      expect((await metrics.render()).body).toMatch(/warden_cleanup_removed_total\{kind="output_frames"\} 3/);
    });

    it('goes on past runs whose times have microseconds (as the table’s default gives them), one run a batch', async () => {
      // Runs of one frame stay where they are: a sweep must step past them, not find the last again.
      const singles = Array.from({ length: 3 }, () => crypto.randomUUID());
      for (const [i, id] of singles.entries()) {
        await sql`insert into warden_tool_output (execution_id, seq, kind, data, at)
          values (${id}::uuid, 1, 'status', '{"status":"cancelled"}',
                  now() - interval '200 days' + ${i}::int * interval '1.000123 seconds')`.execute(db);
      }
      const later = await run(2, 199);
      expect(await outputRetention({ db, days: 90, batch: 1, maxRuns: 10 }).sweep()).toBe(3);
      expect((await framesOf(later)).map((f) => f.seq)).toEqual([3, 4]);
    });

    it('keeps every frame with a retention of 0 days', async () => {
      const old = await run(3, 3650);
      const before = await framesOf(old);
      expect(await outputRetention({ db, days: 0 }).sweep()).toBe(0);
      expect(await framesOf(old)).toEqual(before);
    });

    it('an expired tool run: its stream still ends with its final status, its output says what went, another tenant gets 404', async () => {
      const worker: ToolJobs = toolWorker(t);
      try {
        const { operator } = await toolTenant(t);
        const started = await execute(t, operator, 'hash-identify', {
          hash: '5f4dcc3b5aa765d61d8327deb882cf99',
        });
        expect(started.status).toBe(202);
        const { id } = (await started.json()) as { id: string };
        expect(await waitForStatus(t, operator, id)).toMatchObject({ status: 'completed' });
        const as = (path: string) => t.request(path, { token: operator.token, tenant: operator.tenantSlug });
        // The final status frame is written just after the run's end is recorded, which is what the
        // wait above sees: the stream ends with it, so once read whole every frame is in. (Aged before
        // it came, the sweep kept the last output chunk as the run's last frame, and the test failed.)
        const streamed = sseFrames(await (await as(`/v1/executions/${id}/stream`)).text());
        expect(streamed.at(-1)?.data).toContain('"completed"');
        const wholeBefore = await (await as(`/v1/executions/${id}/output`)).text();
        expect(wholeBefore.length).toBeGreaterThan(0);
        await sql`update warden_tool_output set at = at - interval '100 days' where execution_id = ${id}::uuid`.execute(
          db,
        );
        expect(await outputRetention({ db, days: 90 }).sweep()).toBeGreaterThan(0);

        const output = await (await as(`/v1/executions/${id}/output`)).text();
        expect(output).toBe("[the output before this was removed: runs' output is kept 90 days]\n");
        const stream = await as(`/v1/executions/${id}/stream`);
        expect(stream.status).toBe(200);
        const frames = sseFrames(await stream.text());
        expect(frames.at(-1)?.data).toContain('"completed"');
        expect(frames.some((f) => f.data.includes('"expired":true'))).toBe(true);
        const read = (await (await as(`/v1/executions/${id}`)).json()) as { status: string };
        expect(read.status).toBe('completed');

        const stranger = await t.user({ role: 'owner' });
        const foreign = await t.request(`/v1/executions/${id}/output`, {
          token: stranger.token,
          tenant: stranger.tenantSlug,
        });
        expect(foreign.status).toBe(404);
      } finally {
        await worker.stop(1000);
      }
    }, 120_000);
  });
}
