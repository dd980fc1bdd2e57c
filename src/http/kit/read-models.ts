import type { Context } from 'hono';
import { minPosition } from './preconditions.ts';
import { RequestError } from './problem.ts';

/** What the HTTP layer needs of the projection engine. */
export interface ProjectionWaiter {
  waitFor(names: string | readonly string[], position: bigint, timeoutMs: number): Promise<boolean>;
}

export interface ReadModels {
  /** Honours `X-Min-Position`: waits (bounded) until the named projections have reached it. */
  awaitPosition(c: Context, projections: readonly string[]): Promise<void>;
}

export function readModels(waiter: ProjectionWaiter, maxWaitMs: number): ReadModels {
  return {
    async awaitPosition(c, projections) {
      const position = minPosition(c);
      if (position === undefined) return;
      if (await waiter.waitFor(projections, position, maxWaitMs)) return;
      c.header('Retry-After', '1');
      throw new RequestError(
        503,
        'read-model-behind',
        `the read model has not reached position ${position} yet`,
      );
    },
  };
}
