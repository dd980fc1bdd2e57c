import { OpenAPIHono } from '@hono/zod-openapi';
import type { WSContext } from 'hono/ws';
import type { RuntimeEnv } from '../../runtime/index.ts';
import type { Frame } from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { RequestError } from '../kit/index.ts';
import { type ToolDeps, visibleExecution } from './scope.ts';
import { BACKLOG_PAGE, isFinalFrame, resumePoint } from './stream.ts';

/** Each frame's message text, made once however many sockets send it. */
const encoded = new WeakMap<Frame, string>();
const messageOf = (frame: Frame) => {
  let text = encoded.get(frame);
  if (text === undefined) {
    text = JSON.stringify(frame);
    encoded.set(frame, text);
  }
  return text;
};

/** A socket whose client reads slower than frames come is closed rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** The backlog's next page is read only once the socket has sent all but this much of the last. */
const BACKLOG_LOW_WATER_BYTES = 256 * 1024;
/** A client that takes none of its backlog for this long is closed (it reconnects with `?after=`). */
const BACKLOG_STALL_MS = 30_000;

const bufferedOf = (ws: WSContext) =>
  (ws.raw as { bufferedAmount?: number } | undefined)?.bufferedAmount ?? 0;

/** Resolves true once the socket's send buffer is down to the low-water mark, false if it stays full. */
async function drained(ws: WSContext, isClosed: () => boolean): Promise<boolean> {
  const deadline = Date.now() + BACKLOG_STALL_MS;
  while (!isClosed() && bufferedOf(ws) > BACKLOG_LOW_WATER_BYTES) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return !isClosed();
}

/**
 * `GET /v1/executions/{id}/stream` with `Upgrade: websocket` (what the FastAPI clients call
 * `WS /v1/executions/{id}/stream`): the same frames as the SSE stream, one JSON text message each
 * (`{seq, kind, data}`), backlog first, `?after=seq` to resume, closed with 1000 after the final
 * status. Authentication, tenancy and visibility are checked before the upgrade, so a refused
 * client gets the same HTTP problem as over SSE and never a socket. Requests without the upgrade
 * header go on to the SSE route.
 */
export function streamSocketRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.get('/v1/executions/:id/stream', async (c, next) => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return next();
    const upgrade = (c.env as RuntimeEnv | undefined)?.upgradeWebSocket;
    if (!upgrade) {
      throw new RequestError(
        501,
        'websocket-unavailable',
        'this server was started without WebSocket support',
      );
    }
    const found = await visibleExecution(deps, c, c.req.param('id'));
    const after = resumePoint(c.req.header('last-event-id'), c.req.query('after'));
    const executionId = found.state.executionId;
    let unsubscribe: (() => void) | undefined;
    let closed = false;
    const stop = () => {
      closed = true;
      unsubscribe?.();
    };
    const send = (ws: WSContext, frames: readonly Frame[]) => {
      for (const frame of frames) {
        if (closed) return;
        if (bufferedOf(ws) > MAX_BUFFERED_BYTES) {
          ws.close(1008, 'client too slow: reconnect with ?after= the last seq received');
          stop();
          return;
        }
        ws.send(messageOf(frame));
        if (isFinalFrame(frame)) {
          ws.close(1000, 'final status');
          stop();
          return;
        }
      }
    };
    return upgrade(c, {
      onOpen: (_event, ws) => {
        // The backlog a page at a time, each once the client has taken most of the one before (as
        // the SSE stream pulls it), then live frames from the hub.
        const follow = async () => {
          let cursor = after;
          const onFrames = (frames: readonly Frame[]) => {
            send(ws, frames);
            if (frames.length > 0) cursor = frames[frames.length - 1]!.seq;
          };
          for (;;) {
            // A page of the backlog; if that was all of it, live from there (one read for both).
            const off = await deps.hub.follow(executionId, cursor, { onFrames }, BACKLOG_PAGE);
            if (off !== null) {
              unsubscribe = off;
              if (closed) off();
              return;
            }
            if (closed) return;
            if (!(await drained(ws, () => closed))) {
              if (!closed) ws.close(1008, 'client too slow: reconnect with ?after= the last seq received');
              stop();
              return;
            }
          }
        };
        follow().catch(() => {
          if (!closed) ws.close(1011, 'the output could not be read');
          stop();
        });
      },
      onClose: stop,
      onError: stop,
    });
  });
  return app;
}
