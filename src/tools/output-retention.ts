import { type Kysely, sql } from 'kysely';
import { type Frame, readFrames, type ToolOutputTables } from './output.ts';

/** The status frame that stands for a run's removed frames: `{"expired":true,…}`. */
export const expiredData = (retentionDays: number, removedFrames: number) =>
  JSON.stringify({ expired: true, retention_days: retentionDays, removed_frames: removedFrames });
const EXPIRED_PREFIX = '{"expired":true';

/** What a run's text output says where its expired frames were (undefined for any other frame). */
function expiredNote(frame: Frame): string | undefined {
  if (frame.kind !== 'status' || !frame.data.startsWith(EXPIRED_PREFIX)) return undefined;
  const { retention_days: days } = JSON.parse(frame.data) as { retention_days?: number };
  return `[the output before this was removed: runs' output is kept ${days ?? '?'} days]\n`;
}

/**
 * A run's output as text: its stdout and stderr in order, and where its output was removed for its
 * age, a line saying so. What `…/output` and `…/log` answer.
 */
export async function outputText(db: Kysely<ToolOutputTables>, executionId: string): Promise<string> {
  const parts: string[] = [];
  for (let after = 0; ; ) {
    const page = await readFrames(db, executionId, after, 1000);
    for (const f of page) {
      if (f.kind === 'stdout' || f.kind === 'stderr') parts.push(f.data);
      else {
        const note = expiredNote(f);
        if (note) parts.push(note);
      }
    }
    if (page.length < 1000) break;
    after = page[page.length - 1]!.seq;
  }
  return parts.join('');
}

export interface OutputRetention {
  /** Removes the frames of runs begun before the retention; resolves to how many frames went. */
  sweep(): Promise<number>;
}

/**
 * Output retention: the frames of a run (a tool execution's, an image build's or a push's output)
 * begun more than `days` ago are removed, but for its last one (its final status, so every stream
 * of it still ends) and one status frame in place of the rest, `{"expired":true,"retention_days":…,
 * "removed_frames":…}` at the seq before the last, so a reader from the start sees why the lines are
 * gone. `days` 0 keeps every frame.
 *
 * Runs are found by their first frame's time (`warden_tool_output_first_at`, one entry a run), in
 * order, from where the last sweep of this process stopped: a run whose frames went leaves that
 * index, so nothing is read twice but the few runs of one or two frames, once a process. A sweep
 * does at most `maxRuns` runs (the next goes on from there), each batch in one transaction.
 */
export function outputRetention(options: {
  db: Kysely<ToolOutputTables>;
  days: number;
  clock?: () => Date;
  batch?: number;
  maxRuns?: number;
}): OutputRetention {
  const clock = options.clock ?? (() => new Date());
  const batch = options.batch ?? 500;
  const maxRuns = options.maxRuns ?? 20_000;
  // Where this process's sweeps have got to: runs begun before it are done. The time is kept as the
  // database's text of it: a Date would cut its microseconds and find the last run again.
  let from = { at: '1970-01-01 00:00:00+00', id: '00000000-0000-0000-0000-000000000000' };
  return {
    sweep: async () => {
      if (options.days <= 0) return 0;
      const before = new Date(clock().getTime() - options.days * 86_400_000);
      let removed = 0;
      for (let done = 0; done < maxRuns; ) {
        const runs = (
          await sql<{ execution_id: string; at: string }>`
            select execution_id, at::text as at from warden_tool_output
             where seq = 1 and at < ${before}::timestamptz and (at, execution_id) > (${from.at}::timestamptz, ${from.id}::uuid)
             order by at, execution_id
             limit ${batch}`.execute(options.db)
        ).rows;
        if (runs.length === 0) break;
        removed += await expireRuns(
          options.db,
          runs.map((r) => r.execution_id),
          options.days,
        );
        const last = runs[runs.length - 1]!;
        from = { at: last.at, id: last.execution_id };
        done += runs.length;
        if (runs.length < batch) break;
      }
      return removed;
    },
  };
}

/**
 * In one transaction: every frame of each run but its last goes, and the last removed frame's seq
 * takes the `expired` status frame. A run of one frame, or one already expired, is left as it is.
 */
async function expireRuns(db: Kysely<ToolOutputTables>, ids: string[], days: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const gone = (
      await sql<{ execution_id: string; seq: number }>`
        with last as (
          select o.execution_id, max(o.seq) as last,
                 bool_or(o.seq = 1 and o.kind = 'status' and starts_with(o.data, ${EXPIRED_PREFIX})) as expired
            from warden_tool_output o
           where o.execution_id = any(${ids}::uuid[])
           group by o.execution_id
        )
        delete from warden_tool_output o
         using last
         where o.execution_id = last.execution_id and o.seq < last.last and not last.expired
        returning o.execution_id, o.seq`.execute(trx)
    ).rows;
    const byRun = new Map<string, { count: number; seq: number }>();
    for (const row of gone) {
      const run = byRun.get(row.execution_id) ?? { count: 0, seq: 0 };
      byRun.set(row.execution_id, { count: run.count + 1, seq: Math.max(run.seq, Number(row.seq)) });
    }
    if (byRun.size > 0) {
      const runs = [...byRun.entries()];
      await sql`
        insert into warden_tool_output (execution_id, seq, kind, data)
        select r.execution_id, r.seq, 'status', r.data
          from unnest(${runs.map(([id]) => id)}::uuid[], ${runs.map(([, r]) => r.seq)}::int[],
                      ${runs.map(([, r]) => expiredData(days, r.count))}::text[]) as r(execution_id, seq, data)`.execute(
        trx,
      );
    }
    return gone.length;
  });
}
