import { type ColumnType, type Kysely, sql } from 'kysely';
import type { OutputSink } from './protocol.ts';

export interface ToolOutputTable {
  execution_id: string;
  seq: number;
  kind: string;
  data: string;
  at: ColumnType<Date, Date | undefined, never>;
}
export type ToolOutputTables = { warden_tool_output: ToolOutputTable };

export const frameKinds = ['stdout', 'stderr', 'progress', 'status'] as const;
export type FrameKind = (typeof frameKinds)[number];
/** One frame of a run's output, as the output endpoint and the stream give it. */
export interface Frame {
  seq: number;
  kind: FrameKind;
  data: string;
}

/** The NOTIFY channel announcing new frames; the payload is `<schema>:<execution id>`. */
export const OUTPUT_CHANNEL = 'warden_tool_output';
/** The NOTIFY channel asking the worker running an execution to stop it; the payload is `<schema>:<execution id>`. */
export const CANCEL_CHANNEL = 'warden_tool_cancel';

/** Largest chunk written as one row. */
export const CHUNK_BYTES = 16 * 1024;

export async function readFrames(
  db: Kysely<ToolOutputTables>,
  executionId: string,
  after: number,
  limit = 1000,
): Promise<Frame[]> {
  const rows = await db
    .selectFrom('warden_tool_output')
    .select(['seq', 'kind', 'data'])
    .where('execution_id', '=', executionId)
    .where('seq', '>', after)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ seq: r.seq, kind: r.kind as FrameKind, data: r.data }));
}

/** Appends frames after the execution's last one and wakes every stream of it. */
export async function appendFrames(
  db: Kysely<ToolOutputTables>,
  executionId: string,
  frames: readonly { kind: FrameKind; data: string }[],
): Promise<number> {
  if (frames.length === 0) return 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await appendOnce(db, executionId, frames);
    } catch (error) {
      // Two writers took the same next seq (the worker and a cancel): the loser tries again.
      if (attempt >= 5 || (error as { code?: string }).code !== '23505') throw error;
    }
  }
}

function appendOnce(
  db: Kysely<ToolOutputTables>,
  executionId: string,
  frames: readonly { kind: FrameKind; data: string }[],
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const last = await trx
      .selectFrom('warden_tool_output')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('execution_id', '=', executionId)
      .executeTakeFirst();
    const first = Number(last?.seq ?? 0) + 1;
    await trx
      .insertInto('warden_tool_output')
      .values(
        frames.map((f, i) => ({ execution_id: executionId, seq: first + i, kind: f.kind, data: f.data })),
      )
      .execute();
    await sql`select pg_notify(${OUTPUT_CHANNEL}, current_schema() || ':' || ${executionId}::text)`.execute(
      trx,
    );
    return first + frames.length - 1;
  });
}

/** The status frame's data: the status, and for a final one what the run ended with. */
export const statusData = (status: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ status, ...extra });

/**
 * A run's output sink: buffers writes and flushes them as chunks of at most {@link CHUNK_BYTES}
 * within `flushMs`; past `capBytes` of stdout and stderr it writes one `truncated` status frame and
 * drops the rest. `close()` flushes what is left and reports the bytes kept and whether it truncated.
 */
export function outputWriter(
  db: Kysely<ToolOutputTables>,
  executionId: string,
  options: { capBytes: number; flushMs?: number },
) {
  const encoder = new TextEncoder();
  let pending: { kind: FrameKind; data: string }[] = [];
  let bytes = 0;
  let truncated = false;
  let inFlight: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failed: unknown;
  const flushMs = options.flushMs ?? 5;
  // One append at a time: writes arriving meanwhile gather into the next chunk, so a quiet run's line
  // goes out within `flushMs` and a loud one's lines go out in few, large chunks.
  const flush = () => {
    timer = undefined;
    if (inFlight || pending.length === 0) return;
    const frames = pending;
    pending = [];
    inFlight = appendFrames(db, executionId, frames)
      .then(
        () => undefined,
        (error: unknown) => {
          failed ??= error;
        },
      )
      .finally(() => {
        inFlight = undefined;
        if (pending.length > 0) schedule();
      });
  };
  const schedule = () => {
    if (!timer && !inFlight) timer = setTimeout(flush, flushMs);
  };
  const drain = async () => {
    clearTimeout(timer);
    timer = undefined;
    while (inFlight || pending.length > 0) {
      if (inFlight) await inFlight;
      else flush();
    }
  };
  const push = (kind: FrameKind, data: string) => {
    const last = pending[pending.length - 1];
    if (last && last.kind === kind && kind !== 'status' && last.data.length + data.length <= CHUNK_BYTES) {
      last.data += data;
    } else {
      for (let i = 0; i < data.length; i += CHUNK_BYTES)
        pending.push({ kind, data: data.slice(i, i + CHUNK_BYTES) });
    }
    schedule();
  };
  const sink: OutputSink = {
    write(kind, text) {
      if (truncated || text.length === 0) return;
      const size = encoder.encode(text).length;
      if (bytes + size > options.capBytes) {
        const room = Math.max(0, options.capBytes - bytes);
        const kept = new TextDecoder().decode(encoder.encode(text).slice(0, room)).replace(/\uFFFD$/, '');
        if (kept) push(kind, kept);
        bytes += encoder.encode(kept).length;
        truncated = true;
        push('status', JSON.stringify({ truncated: true, cap_bytes: options.capBytes }));
        return;
      }
      bytes += size;
      push(kind, text);
    },
    progress(fraction) {
      push('progress', String(Math.round(Math.min(1, Math.max(0, fraction)) * 1000) / 1000));
    },
  };
  return {
    sink,
    status(status: string, extra: Record<string, unknown> = {}) {
      push('status', statusData(status, extra));
      return drain();
    },
    get bytes() {
      return bytes;
    },
    get truncated() {
      return truncated;
    },
    async close() {
      await drain();
      if (failed) throw failed;
    },
  };
}
export type OutputWriter = ReturnType<typeof outputWriter>;
