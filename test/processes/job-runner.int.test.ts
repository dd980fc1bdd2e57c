import { type KyselyPlugin, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPGlite, type PGliteDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/logger.ts';
import {
  enqueue,
  JOBS_CHANNEL,
  type Job,
  JobRunner,
  type JobTables,
  jobNotice,
  jobQueueOf,
  viewAs,
  wakeOnJobs,
} from '../../src/processes/runtime/index.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { signal } from '../support/signal.ts';
import { waitUntil } from './support.ts';

/**
 * The job runner on a real queue: woken by the queue's notice (as `warden serve` wires it), it claims
 * what is due and looks again only when more may be due. The poll is set to a minute wherever a test
 * shows a job found without it, so only a notice or a job's end can have found it.
 */
for (const kind of databaseKinds) {
  describe(`the job runner (${kind.name})`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await kind.fresh();
    });
    afterAll(async () => {
      await t?.dispose();
    });

    /** A runner of its own queue with its claims counted; `run` decides how long each job takes. */
    async function runner(options: {
      concurrency: number;
      pollMs: number;
      run: (job: Job, signal: AbortSignal) => Promise<void>;
      abortWaitMs?: number;
    }) {
      const queue = `runner-${crypto.randomUUID()}`;
      let claims = 0;
      const counter: KyselyPlugin = {
        transformQuery: (args) => {
          if (JSON.stringify(args.node).includes('warden_jobs_claim')) claims++;
          return args.node;
        },
        transformResult: async (args) => args.result,
      };
      const db = viewAs<JobTables>(t.database.db);
      const jobs = new JobRunner({
        db: db.withPlugin(counter),
        queue,
        owner: 'runner-test',
        concurrency: options.concurrency,
        pollMs: options.pollMs,
        maxAttempts: 1,
        ...(options.abortWaitMs === undefined ? {} : { abortWaitMs: options.abortWaitMs }),
        logger: createLogger('silent'),
        run: options.run,
        giveUp: async () => undefined,
      });
      const notice = jobNotice(t.database.schema, queue);
      const unlisten = await t.database.listen(JOBS_CHANNEL, (payload) => {
        if (payload === notice) jobs.wake();
      });
      jobs.start();
      const add = (subjects: string[]) =>
        enqueue(
          db,
          subjects.map((subject) => ({ id: crypto.randomUUID(), queue, kind: 'test', subject })),
        );
      return {
        queue,
        add,
        claims: () => claims,
        stop: async (graceMs = 1000) => {
          await unlisten();
          await jobs.stop(graceMs);
        },
      };
    }

    it('claims each job queued after the last one ended once, and looks no further when the queue held no more', async () => {
      const done: string[] = [];
      const r = await runner({
        concurrency: 4,
        pollMs: 60_000,
        run: async (job) => {
          done.push(job.subject);
        },
      });
      try {
        // The runner's first look, at start.
        await waitUntil('the first look', () => r.claims() >= 1);
        for (let i = 0; i < 10; i++) {
          await r.add([`job-${i}`]);
          await waitUntil(`job ${i} run`, () => done.length === i + 1);
        }
        // Each job: the claim its notice woke. Before, each also claimed again right after (a slot
        // was still free) and once more when it ended, finding nothing both times: 31 claims.
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(done).toEqual(Array.from({ length: 10 }, (_, i) => `job-${i}`));
        expect(r.claims()).toBeLessThanOrEqual(11);
      } finally {
        await r.stop();
      }
    });

    it('runs jobs queued while every slot is busy as soon as one frees, without the poll', async () => {
      const done: string[] = [];
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const started: string[] = [];
      const r = await runner({
        concurrency: 2,
        pollMs: 60_000,
        run: async (job) => {
          started.push(job.subject);
          if (job.subject.startsWith('slow')) await gate;
          done.push(job.subject);
        },
      });
      try {
        await r.add(['slow-1', 'slow-2']);
        // Both slow jobs running, whether the runner's first look found them or the notice's claim
        // did (CI once had the first look land after the insert: one claim took both).
        await waitUntil('both slots busy', () => started.length === 2);
        // Queued while the runner is full: their notice finds no free slot.
        await r.add(['next-1', 'next-2', 'next-3']);
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(done).toEqual([]);
        release();
        await waitUntil('every job run', () => done.length === 5, 10_000);
        expect(done.slice(0, 2).sort()).toEqual(['slow-1', 'slow-2']);
        expect(done.slice(2).sort()).toEqual(['next-1', 'next-2', 'next-3']);
      } finally {
        // A failed wait must not leave the slow jobs holding the stop forever.
        release();
        await r.stop();
      }
    });

    it('returns from a stop when a job ignores its abort, leaving the job to its lease', async () => {
      const started: string[] = [];
      const aborted: string[] = [];
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const r = await runner({
        concurrency: 1,
        pollMs: 60_000,
        abortWaitMs: 100,
        // Hears its abort, and goes on waiting all the same.
        run: async (job, signal) => {
          started.push(job.subject);
          signal.addEventListener('abort', () => aborted.push(job.subject));
          await gate;
        },
      });
      try {
        await r.add(['stuck']);
        await waitUntil('the job running', () => started.length === 1);
        // Before, this stop waited for the job forever.
        await r.stop(100);
        expect(aborted).toEqual(['stuck']);
        // Neither completed nor released: still this worker's, until its lease (no longer renewed) lapses.
        const rows = await viewAs<JobTables>(t.database.db)
          .selectFrom('warden_jobs')
          .select(['subject', 'locked_by'])
          .where('queue', '=', r.queue)
          .execute();
        expect(rows).toEqual([{ subject: 'stuck', locked_by: 'runner-test' }]);
      } finally {
        release();
      }
    });

    it('runs a backlog larger than its slots to the end, claiming again as jobs end, without the poll', async () => {
      const done: string[] = [];
      let running = 0;
      let most = 0;
      const r = await runner({
        concurrency: 3,
        pollMs: 60_000,
        run: async (job) => {
          running++;
          most = Math.max(most, running);
          await new Promise((resolve) => setTimeout(resolve, 5));
          running--;
          done.push(job.subject);
        },
      });
      try {
        await r.add(Array.from({ length: 20 }, (_, i) => `backlog-${i}`));
        await waitUntil('the backlog run', () => done.length === 20, 10_000);
        expect(new Set(done).size).toBe(20);
        expect(most).toBeLessThanOrEqual(3);
      } finally {
        await r.stop();
      }
    });

    it('finds a job that came without a notice at its next poll', async () => {
      const done: string[] = [];
      const r = await runner({
        concurrency: 2,
        pollMs: 100,
        run: async (job) => {
          done.push(job.subject);
        },
      });
      try {
        await waitUntil('the first look', () => r.claims() >= 1);
        // Straight into the table: no NOTIFY, as when a notice is lost.
        await viewAs<JobTables>(t.database.db)
          .insertInto('warden_jobs')
          .values({
            id: crypto.randomUUID(),
            queue: r.queue,
            kind: 'test',
            tenant_id: null,
            subject: 'silent',
            payload: '{}',
            locked_by: null,
            locked_until: null,
            last_error: null,
          })
          .execute();
        await waitUntil('the silent job run', () => done.includes('silent'), 10_000);
      } finally {
        await r.stop();
      }
    });

    it('wakes a runner by its queue notice, and listens on no channel when one of them fails to open', async () => {
      const queue = `wake-${crypto.randomUUID()}`;
      const notify = () =>
        sql`select pg_notify(${JOBS_CHANNEL}, ${jobNotice(t.database.schema, queue)})`.execute(t.database.db);
      const warnings: string[] = [];
      const logger = createLogger('warn', { write: (line: string) => void warnings.push(line) });
      const wakeOn = async (also: string) => {
        let woken = 0;
        const stop = await wakeOnJobs(t.database, { [queue]: { wake: () => woken++ } }, logger, [
          [also, () => undefined],
        ]);
        return { stop, woken: () => woken };
      };

      const listening = await wakeOn('warden_test_cancels');
      try {
        await notify();
        await waitUntil('the runner woken by its notice', () => listening.woken() === 1);
      } finally {
        await listening.stop();
      }
      expect(warnings).toEqual([]);

      // Not a channel name: its LISTEN fails. The jobs channel, which opened, is closed again: a notice
      // wakes nobody (before, it stayed open, its connection held, and nothing ever stopped it).
      const failed = await wakeOn('not a channel;');
      await notify();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(failed.woken()).toBe(0);
      expect(warnings.join('\n')).toContain('listening for queued jobs failed; polling only');
      await failed.stop();
    });
  });
}

/**
 * On PGlite (one session) background work gives way to requests. A runner sends its queue's own
 * statements in the foreground (`jobQueueOf`): a job queued while projection pages wait for the
 * session is claimed, and starts, before them, not after every page queued ahead of its claim.
 */
describe('the job runner on PGlite: claims before background work (pglite)', () => {
  let database: PGliteDatabase;
  beforeAll(async () => {
    database = await connectPGlite();
    await migrate(database);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('claims and starts a job queued behind background transactions before them', async () => {
    const queue = `lanes-${crypto.randomUUID()}`;
    await enqueue(jobQueueOf(database), [{ id: crypto.randomUUID(), queue, kind: 'test', subject: 'job' }]);
    const order: string[] = [];
    const [held, gate, ran] = [signal(), signal(), signal()];
    // A projection page holding the session, and two more waiting for it.
    const page = (name: string, hold?: Promise<void>) =>
      database.background.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        if (hold) {
          held.fire();
          await hold;
        }
        order.push(name);
      });
    const holder = page('page 1', gate.promise);
    await held.promise;
    const queued = [page('page 2'), page('page 3')];
    const jobs = new JobRunner({
      db: jobQueueOf(database),
      queue,
      owner: 'lanes-test',
      concurrency: 1,
      pollMs: 60_000,
      maxAttempts: 1,
      logger: createLogger('silent'),
      run: async () => {
        order.push('job');
        ran.fire();
      },
      giveUp: async () => undefined,
    });
    jobs.start();
    try {
      // The pages and the runner's first claim wait for the session (a few turns to get there).
      for (let turns = 0; database.poolStats().waiting < 3 && turns < 200; turns++)
        await new Promise((resolve) => setTimeout(resolve, 1));
      expect(database.poolStats().waiting).toBe(3);
      gate.fire();
      await Promise.all([holder, ...queued, ran.promise]);
      expect(order).toEqual(['page 1', 'job', 'page 2', 'page 3']);
    } finally {
      await jobs.stop(1000);
    }
  });
});
