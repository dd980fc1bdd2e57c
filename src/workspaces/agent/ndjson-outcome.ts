import type { Context } from 'hono';

/** The media type of an answer that streams a long call's lines, then its outcome. */
export const NDJSON = 'application/x-ndjson';

/**
 * Runs a long engine call (a build, a push) and answers its output as NDJSON lines as they come,
 * `{"stream": line}`, then `{"done": …}` or `{"error": message}`. A failure before any line is
 * thrown instead, answered as a problem with its status (a context or image the host does not have:
 * 404). The client going (its request aborted, or the answer's stream cancelled) aborts `signal`;
 * `after` runs once the outcome is sent (or thrown), so the client does not wait on it.
 */
export async function ndjsonOutcome<T>(
  c: Context,
  call: {
    run: (onLine: (line: string) => void, signal: AbortSignal) => Promise<T>;
    done: (result: T) => object;
    /** The message the `{"error"}` line carries. */
    failed: (error: unknown) => string;
    after?: () => Promise<unknown>;
  },
): Promise<Response> {
  const encoder = new TextEncoder();
  const abort = new AbortController();
  const stop = () => abort.abort(new Error('the client went'));
  c.req.raw.signal?.addEventListener('abort', stop, { once: true });
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  const readable = new ReadableStream<Uint8Array>({
    start: (given) => {
      controller = given;
    },
    cancel: () => {
      open = false;
      stop();
    },
  });
  // Lines given in one go (the engine's chunk of several lines, parsed at once) go out as one chunk,
  // one write to the socket instead of one each, once the code that gave them has run.
  let pending = '';
  const flush = () => {
    const text = pending;
    pending = '';
    if (!open || text === '') return;
    try {
      controller.enqueue(encoder.encode(text));
    } catch {
      open = false;
    }
  };
  const send = (line: object) => {
    if (!open) return;
    if (pending === '') queueMicrotask(flush);
    pending += `${JSON.stringify(line)}\n`;
  };
  let wrote = false;
  let firstLine = () => {};
  const started = new Promise<void>((resolve) => {
    firstLine = resolve;
  });
  const outcome = call
    .run((line) => {
      wrote = true;
      firstLine();
      send({ stream: line });
    }, abort.signal)
    .then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({ ok: false as const, error }),
    )
    .finally(() => c.req.raw.signal?.removeEventListener('abort', stop));
  const first = await Promise.race([started.then(() => undefined), outcome]);
  if (first && !first.ok && !wrote) {
    await call.after?.().catch(() => undefined);
    throw first.error;
  }
  void outcome.then(async (result) => {
    send(result.ok ? { done: call.done(result.result) } : { error: call.failed(result.error) });
    flush();
    if (open) {
      open = false;
      try {
        controller.close();
      } catch {}
    }
    await call.after?.().catch(() => undefined);
  });
  return c.body(readable, 200, { 'content-type': NDJSON });
}
