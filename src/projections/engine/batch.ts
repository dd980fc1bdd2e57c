import type { Kysely } from 'kysely';
import type { RecordedEvent } from '../../eventstore/port.ts';
import type { Projection } from './projection.ts';

/** The projection's own code threw; `event` is the culprit when known (always after `commitInOrder`). */
export class ApplyError extends Error {
  constructor(
    readonly event: RecordedEvent | null,
    override readonly cause: unknown,
  ) {
    super(messageOf(cause), { cause });
    this.name = 'ApplyError';
  }
}

/** Folds `events` into the tables `db` is scoped to: set-based when the projection offers it. */
export async function applyEvents(
  projection: Projection,
  events: readonly RecordedEvent[],
  db: Kysely<unknown>,
): Promise<void> {
  if (events.length === 0) return;
  if (events.length > 1 && projection.applyBatch) {
    try {
      await projection.applyBatch(events, db);
    } catch (error) {
      throw new ApplyError(null, error);
    }
    return;
  }
  for (const event of events) {
    try {
      await projection.apply(event, db);
    } catch (error) {
      throw new ApplyError(event, error);
    }
  }
}

/**
 * Commits a batch in one transaction (`commit` applies and moves the checkpoint to `next`). When the
 * projection throws, that transaction has rolled back whole; the batch is then replayed one event per
 * transaction, so the events before the culprit are kept and the culprit is named in the error.
 */
export async function commitInOrder(
  events: readonly RecordedEvent[],
  next: bigint,
  commit: (events: readonly RecordedEvent[], next: bigint) => Promise<void>,
): Promise<void> {
  try {
    await commit(events, next);
    return;
  } catch (error) {
    if (!(error instanceof ApplyError) || events.length <= 1 || isTransient(error.cause)) throw error;
  }
  for (const [i, event] of events.entries()) {
    await commit([event], i === events.length - 1 ? next : event.position);
  }
}

/**
 * Errors worth retrying rather than failing the projection for: lost connections, serialisation
 * failures and deadlocks, shutdowns, resource exhaustion (SQLSTATE classes 08, 40, 53, 57).
 */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') {
    return error instanceof Error && /connection (terminated|ended|closed)/i.test(error.message);
  }
  if (/^(08|40|53|57)[0-9A-Z]{3}$/.test(code)) return true;
  return ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE'].includes(code);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
