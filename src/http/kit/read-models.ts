import type { Context } from 'hono';
import type { EventStore } from '../../eventstore/port.ts';
import { minPosition } from './preconditions.ts';
import { RequestError } from './problem.ts';

/** What the HTTP layer needs of the projection engine. */
export interface ProjectionWaiter {
  waitFor(names: string | readonly string[], position: bigint, timeoutMs: number): Promise<boolean>;
}

/**
 * How to find a resource's creation: its own stream (the first event creates it; the stream must be
 * the caller's tenant's), or the position of its creating event when the caller has already read it
 * (a comment inside its issue's stream); `undefined` when there is no such event.
 */
export type Creation = { streamId: string; tenantId: string } | { position: bigint | undefined };

export interface ReadModels {
  /** Honours `X-Min-Position`: waits (bounded) until the named projections have reached it. */
  awaitPosition(c: Context, projections: readonly string[]): Promise<void>;
  /**
   * One resource from a read model, with read-your-writes and no header: when the row is missing but
   * the resource's creating event exists (its own stream, in the caller's tenant), waits (bounded)
   * until the projections have reached that event and reads again; still behind → 503 with
   * `Retry-After`. A resource that was never created here is simply absent (undefined).
   */
  readOne<T>(
    c: Context,
    projections: readonly string[],
    created: Creation,
    read: () => Promise<T | undefined>,
  ): Promise<T | undefined>;
  /**
   * For an answer that rests on what a read model lacks ("no agent holds this image"): waits (bounded)
   * until the projections have caught up with every event written so far, so a thing created a
   * moment ago counts; still behind → 503 with `Retry-After`.
   */
  caughtUp(c: Context, projections: readonly string[]): Promise<void>;
}

function behind(c: Context, position: bigint): never {
  c.header('Retry-After', '1');
  throw new RequestError(503, 'read-model-behind', `the read model has not reached position ${position} yet`);
}

/**
 * Read-your-writes for queries. Lists honour `X-Min-Position` (the position a write answered); a
 * single resource needs no header: its own stream says how far the read model must have come, so a
 * `GET` of the `Location` a create returned never answers 404 for a resource that exists.
 */
export function readModels(
  store: Pick<EventStore, 'readStream' | 'headPosition'>,
  waiter: ProjectionWaiter,
  maxWaitMs: number,
): ReadModels {
  const awaitPosition = async (c: Context, projections: readonly string[]) => {
    const position = minPosition(c);
    if (position === undefined) return;
    if (await waiter.waitFor(projections, position, maxWaitMs)) return;
    behind(c, position);
  };
  const creationPosition = async (created: Creation) => {
    if ('position' in created) return created.position;
    // The stream's first event creates the resource: once the projections are past it, the row is there.
    const [first] = await store.readStream(created.streamId, { limit: 1 });
    return first && first.metadata.tenantId === created.tenantId ? first.position : undefined;
  };
  return {
    awaitPosition,
    async caughtUp(c, projections) {
      const head = await store.headPosition();
      if (!(await waiter.waitFor(projections, head, maxWaitMs))) behind(c, head);
    },
    async readOne(c, projections, created, read) {
      await awaitPosition(c, projections);
      const found = await read();
      if (found !== undefined) return found;
      const position = await creationPosition(created);
      if (position === undefined) return undefined;
      if (!(await waiter.waitFor(projections, position, maxWaitMs))) behind(c, position);
      return read();
    },
  };
}
