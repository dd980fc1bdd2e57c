/** Small waiting primitives shared by the engine's loops; none leaves a timer or listener behind. */

/** A broadcast: `wait()` resolves at the next `fire()`, after `ms`, or on abort, whichever is first. */
export class Trigger {
  readonly #waiters = new Set<() => void>();

  wait(ms?: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      if (signal?.aborted) done();
    });
  }

  fire(): void {
    for (const done of [...this.#waiters]) done();
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Trigger().wait(ms, signal);
}

/** An AbortSignal that aborts with any of `signals` (AbortSignal.any is Node ≥ 20.3 only). */
export function anySignal(...signals: AbortSignal[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  for (const s of signals) {
    if (s.aborted) controller.abort();
    else s.addEventListener('abort', abort, { once: true });
  }
  return {
    signal: controller.signal,
    dispose: () => {
      for (const s of signals) s.removeEventListener('abort', abort);
    },
  };
}
