import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import type { Tables } from '../../db/tables.ts';
import {
  type AppendOptions,
  type EventStore,
  InvalidAppendError,
  type NewEvent,
  RetryWithSavepointsError,
  type TransactionBinding,
  WrongExpectedRevisionError,
} from '../port.ts';
import { announceAppends, postgresEventStore } from './store.ts';

const POISONING = new Set(['WE001', '23505', '25P02']);

/**
 * The PostgreSQL event store bound to one transaction, so a handler's appends commit with the
 * checkpoint. Inside a transaction a failed statement poisons everything after it, which would turn
 * an idempotent retry (same derived ids, e.g. on a replay) or a revision conflict (which `handle`
 * retries) into a dead transaction. Both are rare, so appends first run bare (`careful: false`) and
 * such a failure throws RetryWithSavepointsError; the runner then repeats the batch with each
 * append under a savepoint, rolls back to it on failure and answers the way the adapter does
 * outside a transaction. Savepoints cost two round trips per append, half of a handler's usual work.
 */
export function transactionalStore(database: Database, trx: Kysely<Tables>, careful = true): EventStore {
  const inner = postgresEventStore({ ...database, db: trx });
  let tail: Promise<unknown> = Promise.resolve();
  let counter = 0;

  async function append(streamId: string, events: readonly NewEvent[], options?: AppendOptions) {
    if (!careful) {
      try {
        return await inner.append(streamId, events, options);
      } catch (error) {
        if (POISONING.has(String((error as { code?: unknown }).code)))
          throw new RetryWithSavepointsError(error);
        throw error;
      }
    }
    const savepoint = sql.id(`warden_append_${++counter}`);
    await sql`savepoint ${savepoint}`.execute(trx);
    try {
      const result = await inner.append(streamId, events, options);
      await sql`release savepoint ${savepoint}`.execute(trx);
      return result;
    } catch (error) {
      await sql`rollback to savepoint ${savepoint}`.execute(trx);
      await sql`release savepoint ${savepoint}`.execute(trx);
      // WE001 conflict and 23505 duplicate id come from `warden_append`; 25P02 from the adapter's own
      // duplicate check that ran after them in the poisoned transaction. Anything else is not ours.
      if (!POISONING.has(String((error as { code?: unknown }).code))) throw error;
      const ids = events.map((e) => e.id);
      const stored = await trx
        .selectFrom('warden_events')
        .select(['id', 'stream_id', 'revision', 'position'])
        .where('id', 'in', ids)
        .orderBy('revision')
        .execute();
      if (
        stored.length === ids.length &&
        stored.every((r, i) => r.stream_id === streamId && r.id === ids[i])
      ) {
        const last = stored[stored.length - 1]!;
        return { revision: Number(last.revision), position: BigInt(last.position) };
      }
      if (stored.length > 0) {
        throw new InvalidAppendError('events', 'an event id is already used by another event');
      }
      const head = await trx
        .selectFrom('warden_streams')
        .select('revision')
        .where('stream_id', '=', streamId)
        .executeTakeFirst();
      const actual = head === undefined ? 'no_stream' : Number(head.revision);
      // Whatever the adapter saw (a conflict, or its own check failing in the poisoned transaction),
      // a concurrent writer got there first: a conflict, which `handle` reloads and retries.
      throw new WrongExpectedRevisionError(streamId, options?.expected ?? 'any', actual);
    }
  }

  return {
    ...inner,
    name: `${inner.name}-transaction`,
    // Savepoints nest, so concurrent appends inside one transaction would release each other's.
    append: (streamId, events, options) => {
      const run = tail.then(() => append(streamId, events, options));
      tail = run.catch(() => undefined);
      return run;
    },
  };
}

/** The store of `database` bound to each handling transaction the runtime opens (its `TransactionBinding`). */
export function transactionBinding(database: Database): TransactionBinding<Kysely<Tables>> {
  return Object.assign(
    (trx: Kysely<Tables>, careful: boolean) => transactionalStore(database, trx, careful),
    {
      committed: (types: readonly string[], position: bigint) => announceAppends(database, types, position),
    },
  );
}

/** The binding when `store` keeps its events in `database` (its name is the database's kind), else none. */
export function transactionBindingFor(
  database: Database,
  store: Pick<EventStore, 'name'>,
): TransactionBinding<Kysely<Tables>> | undefined {
  return store.name === database.kind ? transactionBinding(database) : undefined;
}
