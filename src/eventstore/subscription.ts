import type { AppendListener, ReadAllOptions, RecordedEvent, SubscribeOptions } from './port.ts';

export interface PollingOptions {
  pollIntervalMs: number;
  /**
   * Registers a callback the store calls after its own appends with the types appended, so live
   * delivery needs no poll wait.
   */
  onAppend?: (wake: AppendListener) => () => void;
}

/**
 * Catch-up-then-live subscription over `readAll`: pages from the checkpoint until a page comes back
 * short (caught up), then waits for a local append or the poll interval. Positions only grow, so the
 * checkpoint is simply the last delivered position.
 */
export async function* subscribeByPolling(
  readAll: (options: ReadAllOptions) => Promise<RecordedEvent[]>,
  options: SubscribeOptions,
  polling: PollingOptions,
): AsyncGenerator<RecordedEvent> {
  const signal = options.signal;
  const batchSize = options.batchSize ?? 500;
  let after = options.after ?? 0n;
  let wake: (() => void) | undefined;
  let pending = false;
  // A subscription to some types wakes only for an append holding one of them: every other append
  // would cost it a read that finds nothing (per append, in every process manager of the process).
  const wanted = options.types ? new Set(options.types) : undefined;
  const unregister = polling.onAppend?.((types) => {
    if (wanted && !types.some((type) => wanted.has(type))) return;
    pending = true;
    wake?.();
  });
  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort);
  let live = false;
  try {
    while (!signal?.aborted) {
      pending = false;
      const page = await readAll({
        after,
        limit: batchSize,
        ...(options.types ? { types: options.types } : {}),
      });
      for (const event of page) {
        if (signal?.aborted) return;
        after = event.position;
        yield event;
      }
      if (page.length < batchSize) {
        if (!live) {
          live = true;
          options.onCaughtUp?.(after);
        }
        if (pending || signal?.aborted) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, polling.pollIntervalMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      } else {
        live = false;
      }
    }
  } finally {
    unregister?.();
    signal?.removeEventListener('abort', onAbort);
  }
}
