import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { type Frame, type FrameKind, onFramesAppended, readFrames, type ToolOutputTables } from './output.ts';

export interface Subscriber {
  /** Frames in order, each once: the backlog after the subscriber's point, then live ones. */
  onFrames(frames: readonly Frame[]): void;
}

export interface StreamHubOptions {
  db: Kysely<ToolOutputTables>;
  /** The database's LISTEN (one connection for the whole process); without it the hub only polls. */
  listen?: (channel: string, onNotify: (payload: string) => void) => Promise<() => Promise<void>>;
  /** The schema whose notices are this hub's (`public` unless a test uses its own). */
  schema?: string;
  /** How often the hub reads new frames while anyone is subscribed (a notice wakes it sooner). */
  pollMs?: number;
}

interface Watched {
  /** The highest seq the hub has read and handed out for this execution. */
  seq: number;
  subscribers: Set<Subscriber>;
  /** Stops hearing the frames this process appends to the execution. */
  unhear: () => void;
}

/**
 * One reader of tool output per process, fanning out to every subscriber: frames this process
 * appends (the run's worker is in-process) are handed out as their append commits, with no read;
 * others cost one query per wake-up for all watched executions (woken by one LISTEN connection,
 * polled as a fallback), however many streams are open. A subscriber joining late gets its backlog
 * first, read once on its own.
 */
export function streamHub(options: StreamHubOptions) {
  const watched = new Map<string, Watched>();
  const pollMs = options.pollMs ?? 250;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let reading: Promise<void> | undefined;
  let again = false;
  let unlisten: Promise<(() => Promise<void>) | undefined> | undefined;

  const schedule = (delay: number) => {
    if (timer || watched.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void tick();
    }, delay);
  };
  const tick = async (): Promise<void> => {
    if (reading) {
      again = true;
      return reading;
    }
    reading = (async () => {
      do {
        again = false;
        await readAll().catch(() => undefined);
      } while (again);
    })();
    await reading;
    reading = undefined;
    schedule(pollMs);
  };
  const readAll = async () => {
    if (watched.size === 0) return;
    const ids = [...watched.keys()];
    const seqs = ids.map((id) => watched.get(id)!.seq);
    const rows = await sql<{
      execution_id: string;
      seq: number;
      kind: string;
      data: string;
    }>`/* prepared:warden_tool_output_watched */
      select o.execution_id, o.seq, o.kind, o.data
        from unnest(${ids}::uuid[], ${seqs}::int[]) as c(id, seq)
        join warden_tool_output o on o.execution_id = c.id and o.seq > c.seq
       order by o.execution_id, o.seq
       limit 10000`.execute(options.db);
    const byExecution = new Map<string, Frame[]>();
    for (const row of rows.rows) {
      const list = byExecution.get(row.execution_id) ?? [];
      list.push({ seq: Number(row.seq), kind: row.kind as FrameKind, data: row.data });
      byExecution.set(row.execution_id, list);
    }
    for (const [id, frames] of byExecution) {
      const entry = watched.get(id);
      if (!entry) continue;
      // Frames appended here may have been handed out while this read was under way.
      const fresh = frames.filter((f) => f.seq > entry.seq);
      if (fresh.length === 0) continue;
      entry.seq = fresh[fresh.length - 1]!.seq;
      for (const s of entry.subscribers) s.onFrames(fresh);
    }
    if (rows.rows.length === 10000) again = true;
  };
  /**
   * Frames this process appended, in seq order from one append: handed out at once when they follow
   * what the hub has; after a gap (another writer's frames not seen yet) the table is read instead.
   */
  const appended = (executionId: string, frames: readonly Frame[]) => {
    const entry = watched.get(executionId);
    const last = frames[frames.length - 1];
    if (!entry || !last || last.seq <= entry.seq) return;
    if (frames[0]!.seq > entry.seq + 1) {
      void tick();
      return;
    }
    const fresh = frames.filter((f) => f.seq > entry.seq);
    entry.seq = last.seq;
    for (const s of entry.subscribers) s.onFrames(fresh);
  };
  const startListening = () => {
    if (unlisten || !options.listen) return;
    const prefix = `${options.schema ?? 'public'}:`;
    unlisten = options
      .listen('warden_tool_output', (payload) => {
        if (!payload.startsWith(prefix)) return;
        // `<execution id>:<last seq>` (a notice from before the seq was added names only the id).
        const [executionId = '', seq] = payload.slice(prefix.length).split(':');
        // Looked at a turn later: a notice of this process's own append can arrive while that append
        // is still answering (PGlite hands notices out inside the query), before it hands its frames
        // out here; read at once, it would cost a query that finds them already delivered.
        setTimeout(() => {
          const entry = watched.get(executionId);
          if (!entry) return;
          // Already handed out (this process appended them): nothing to read.
          if (seq !== undefined && /^\d+$/.test(seq) && Number(seq) <= entry.seq) return;
          void tick();
        }, 0);
      })
      .catch(() => undefined);
  };

  /**
   * Subscribes, then delivers the backlog: in pages of 5,000, or with `pageLimit` one read of at most
   * that many frames after `after`, and when it comes back full, nothing more (null, unsubscribed).
   */
  const join = async (
    executionId: string,
    after: number,
    subscriber: Subscriber,
    pageLimit?: number,
  ): Promise<(() => void) | null> => {
    startListening();
    let delivered = after;
    let backlogDone = false;
    const held: Frame[] = [];
    const deliver = (frames: readonly Frame[]) => {
      const fresh = frames.filter((f) => f.seq > delivered);
      if (fresh.length === 0) return;
      delivered = fresh[fresh.length - 1]!.seq;
      subscriber.onFrames(fresh);
    };
    const own: Subscriber = {
      onFrames: (frames) => (backlogDone ? deliver(frames) : held.push(...frames)),
    };
    let entry = watched.get(executionId);
    if (!entry) {
      entry = { seq: after, subscribers: new Set(), unhear: onFramesAppended(executionId, appended) };
      watched.set(executionId, entry);
    }
    entry.subscribers.add(own);
    const unsubscribe = () => {
      const current = watched.get(executionId);
      current?.subscribers.delete(own);
      if (current && current.subscribers.size === 0) {
        current.unhear();
        watched.delete(executionId);
      }
    };
    // The highest seq seen stored. The backlog is read from the frame before `after`, so a resume
    // point that exists counts as stored; one past the run's last frame does not.
    let stored = 0;
    // The frame at `after` itself, read with the backlog, is one more to ask for.
    const limit = pageLimit === undefined ? 5000 : pageLimit + (after > 0 ? 1 : 0);
    try {
      for (let from = Math.max(0, after - 1); ; from = stored) {
        const page = await readFrames(options.db, executionId, from, limit);
        if (page.length > 0) stored = page[page.length - 1]!.seq;
        deliver(page);
        if (page.length < limit) break;
        if (pageLimit !== undefined) {
          // More may be stored: the caller pages on from what it was handed; what arrived
          // meanwhile is read again then.
          unsubscribe();
          return null;
        }
      }
    } catch (error) {
      // Nothing of a failed subscription stays watched (its seq would be read for every run).
      unsubscribe();
      throw error;
    }
    backlogDone = true;
    deliver(held.sort((a, b) => a.seq - b.seq));
    // The hub's point never passes what is stored: a caller resuming past the run's last frame
    // would otherwise hide the frames up to that point from every other stream of the run. Frames
    // written between the hub's last read and now are picked up by the next read.
    entry.seq = Math.min(entry.seq, stored);
    schedule(0);
    return unsubscribe;
  };

  return {
    /**
     * Subscribes to an execution's frames after `after`. Resolves once the backlog is delivered;
     * the returned function unsubscribes.
     */
    subscribe: async (executionId: string, after: number, subscriber: Subscriber): Promise<() => void> =>
      (await join(executionId, after, subscriber))!,
    /**
     * A stream's next step: the frames after `after` and then live ones, as `subscribe` (one read for
     * the backlog and the subscription both), unless more than `pageLimit` are stored: then a page of
     * them, subscribed to nothing (null), for the caller to read on as its client takes them.
     */
    follow: (
      executionId: string,
      after: number,
      subscriber: Subscriber,
      pageLimit: number,
    ): Promise<(() => void) | null> => join(executionId, after, subscriber, pageLimit),
    /** Subscribers per execution (metrics, tests). */
    size: () => [...watched.values()].reduce((n, w) => n + w.subscribers.size, 0),
    async close() {
      clearTimeout(timer);
      for (const entry of watched.values()) entry.unhear();
      watched.clear();
      await (await unlisten)?.();
    },
  };
}
export type StreamHub = ReturnType<typeof streamHub>;
