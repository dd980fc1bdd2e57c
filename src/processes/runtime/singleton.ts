import type { Database } from '../../db/database.ts';
import { claimPartitions, ensurePartitions, releasePartitions, renewLeases } from './leases.ts';
import { processTables } from './tables.ts';

/**
 * A cluster-wide "one of us does this" lease, on the partition table the workers already use: a
 * job named `name` has a single partition, and whoever holds its lease is the one that runs it.
 * A holder that stops answering loses it after `leaseMs`; a clean stop hands it over at once.
 */
export class SingletonLease {
  readonly #db;
  #ready: Promise<number> | undefined;

  constructor(
    database: Database,
    private readonly name: string,
    private readonly owner: string,
    private readonly leaseMs: number,
  ) {
    this.#db = processTables(database);
  }

  /** Renews the lease if held, else tries to take it; true while this owner holds it. */
  async hold(): Promise<boolean> {
    this.#ready ??= ensurePartitions(this.#db, this.name, 1, 0n);
    await this.#ready;
    const renewed = await renewLeases(this.#db, this.name, this.owner, this.leaseMs);
    if (renewed.length > 0) return true;
    const claimed = await claimPartitions(this.#db, this.name, this.owner, this.leaseMs, 1);
    return claimed.length > 0;
  }

  /** Gives the lease back so another process takes it on its next try. */
  async release(): Promise<void> {
    await releasePartitions(this.#db, this.name, this.owner, [0]);
  }
}
