/**
 * `sync` run at most once per `intervalMs` of monotonic time, shared: the returned function resolves
 * at once while the last successful run started less than `intervalMs` ago, and otherwise starts a run
 * (or joins the one already under way) and resolves when it has finished. A failed run rejects its
 * callers and counts as no run, so the next call tries again. `intervalMs` 0 runs it on every call.
 */
export function intervalSync(intervalMs: number, sync: () => Promise<void>): () => Promise<void> {
  let syncedAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<void> | null = null;
  return async () => {
    if (performance.now() - syncedAt < intervalMs) return;
    pending ??= (async () => {
      const started = performance.now();
      await sync();
      syncedAt = started;
    })().finally(() => {
      pending = null;
    });
    await pending;
  };
}
