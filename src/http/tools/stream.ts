import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { finalStatuses } from '../../commands/tools/index.ts';
import type { Frame, StreamHub } from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, RequestError, validationHook } from '../kit/index.ts';
import { type ToolDeps, toolProblems, visibleExecution } from './scope.ts';

/** The largest frame seq (the output table's `seq` is a 32-bit integer). */
const MAX_SEQ = 2_147_483_647;

/** A stream route's query: where to resume (`Last-Event-ID`, when sent, wins: see {@link resumePoint}). */
export const StreamQuery = z.strictObject({
  after: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_SEQ)
    .optional()
    .meta({ description: 'Resume after this seq' }),
});

/**
 * Each frame's SSE text, encoded once however many streams send it (the hub hands every subscriber
 * the same frame objects).
 */
const encoded = new WeakMap<Frame, Uint8Array>();
const sseBytes = (frame: Frame) => {
  let bytes = encoded.get(frame);
  if (!bytes) {
    bytes = new TextEncoder().encode(
      `id: ${frame.seq}\nevent: ${frame.kind}\ndata: ${JSON.stringify(frame)}\n\n`,
    );
    encoded.set(frame, bytes);
  }
  return bytes;
};

const KEEP_ALIVE = new TextEncoder().encode(': keep-alive\n\n');

/**
 * Frames of a stream's backlog read at a time. A frame holds at most 16 KiB of output, so a client
 * that stops reading holds about a page in this process, not the run's whole output (up to its cap,
 * 4 MiB for nmap): a caller opening many streams of a finished run cannot fill the server's memory.
 */
export const BACKLOG_PAGE = 64;

/** The headers of an answer that is a stream of Server-Sent Events. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'transfer-encoding': 'chunked',
};

/**
 * The SSE body of one stream. The backlog is read a page at a time as the client takes it (the
 * stream pulls the next page only once its queue is empty); once it is caught up, the hub's frames
 * are enqueued as they are handed out, in the same turn of the event loop (no queue, loop or await
 * per stream and frame: with hundreds of streams of one run, each hop would be paid hundreds of
 * times per line), closed after the final status. The client going away cancels it and unsubscribes.
 */
export function frameStream(hub: StreamHub, executionId: string, after: number): ReadableStream<Uint8Array> {
  let unsubscribe: (() => void) | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let ended = false;
  let live = false;
  let cursor = after;
  const stop = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    unsubscribe?.();
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        heartbeat = setInterval(() => {
          if (!ended) controller.enqueue(KEEP_ALIVE);
        }, 15_000);
      },
      async pull(controller) {
        const send = (frames: readonly Frame[]) => {
          for (const frame of frames) {
            if (ended) return;
            controller.enqueue(sseBytes(frame));
            cursor = frame.seq;
            if (isFinalFrame(frame)) {
              stop();
              controller.close();
              return;
            }
          }
        };
        if (live || ended) return;
        try {
          // A page of the backlog; if that was all of it, live from there (one read for both). Marked
          // live while the read is out, so a pull meanwhile does not read the same page again; a full
          // page (null) leaves it to the next pull.
          live = true;
          const off = await hub.follow(executionId, cursor, { onFrames: send }, BACKLOG_PAGE);
          if (off === null) live = false;
          else if (ended) off();
          else unsubscribe = off;
        } catch (error) {
          stop();
          controller.error(error);
        }
      },
      cancel: stop,
    },
    // One queued chunk is enough to pull the next page: a page is enqueued whole, and the next one is
    // read only when the client has taken it.
    { highWaterMark: 1 },
  );
}

/**
 * Where a stream starts: after `Last-Event-ID` when the client sent one (an SSE reconnect), else
 * after `?after=`, else from the first frame.
 */
export function resumePoint(lastEventId: string | undefined, after: string | number | undefined): number {
  if (lastEventId !== undefined) {
    if (!/^\d{1,9}$/.test(lastEventId.trim())) {
      throw new RequestError(400, 'validation', 'Last-Event-ID must be a frame seq', [
        { path: 'header.last-event-id', message: 'must be a whole number' },
      ]);
    }
    return Number(lastEventId);
  }
  if (after === undefined) return 0;
  const parsed = StreamQuery.shape.after.safeParse(after);
  if (!parsed.success || parsed.data === undefined) {
    throw new RequestError(400, 'validation', 'after must be a frame seq', [
      { path: 'query.after', message: `must be a whole number from 0 to ${MAX_SEQ}` },
    ]);
  }
  return parsed.data;
}

/** A stream route's 200 answer, as documented. */
export const FRAME_STREAM_ANSWER = {
  description: 'An event stream of {seq, kind, data} frames, ending with the final status',
  content: { 'text/event-stream': { schema: z.string() } },
};

/** A stream route's answer: the frames kept under `key`, from where the client resumes. */
export function framesFrom(c: Context, hub: StreamHub, key: string, after: number | undefined): Response {
  return c.body(frameStream(hub, key, resumePoint(c.req.header('last-event-id'), after)), 200, SSE_HEADERS);
}

/** Whether a frame is the final status, after which the stream ends. */
export const isFinalFrame = (frame: Frame) => {
  if (frame.kind !== 'status') return false;
  try {
    const status = (JSON.parse(frame.data) as { status?: string }).status;
    return status !== undefined && (finalStatuses as readonly string[]).includes(status);
  } catch {
    return false;
  }
};

/**
 * Live output as Server-Sent Events: frames `{seq, kind, data}` with `id: seq`; a late subscriber
 * gets the backlog, then live frames; `Last-Event-ID` or `?after=` resumes without gaps or repeats;
 * the stream ends with the final status. Every stream of this process shares one reader (the hub).
 */
export function streamRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/executions/{id}/stream',
      tags: ['Tools'],
      summary:
        'Live output as Server-Sent Events, or as WebSocket messages with `Upgrade: websocket` (resumable with Last-Event-ID or ?after=)',
      request: { params: z.object({ id: z.string().max(60) }), query: StreamQuery },
      responses: { 200: FRAME_STREAM_ANSWER, ...commonProblems, ...toolProblems },
    }),
    async (c) => {
      const found = await visibleExecution(deps, c, c.req.valid('param').id);
      return framesFrom(c, deps.hub, found.state.executionId, c.req.valid('query').after);
    },
  );
  return app;
}
