import type { EventStore } from '../../eventstore/port.ts';
import type { EngineLogger } from './logger.ts';
import { Trigger } from './timing.ts';

/**
 * One poll of the store's head for all projections, instead of one read per projection per tick: a
 * caught-up projection sleeps until the head moves past its checkpoint. `kick()` polls at once (a
 * read-your-writes wait calls it, so it does not sit out a whole interval).
 */
export class HeadWatcher {
  /** The newest head seen; it was read before any later `readAll`, so its snapshot is older. */
  value = 0n;
  readonly #moved = new Trigger();
  readonly #kick = new Trigger();
  #kickPending = false;

  constructor(
    private readonly store: EventStore,
    private readonly pollIntervalMs: number,
    private readonly logger: EngineLogger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      this.#kickPending = false;
      try {
        await this.poll();
        failures = 0;
      } catch (error) {
        failures++;
        if (failures === 1 || failures % 100 === 0) {
          this.logger.warn({ err: error, failures }, 'projection engine cannot read the event store head');
        }
      }
      if (!this.#kickPending) await this.#kick.wait(this.pollIntervalMs, signal);
    }
  }

  async poll(): Promise<bigint> {
    const head = await this.store.headPosition();
    if (head > this.value) {
      this.value = head;
      this.#moved.fire();
    }
    return head;
  }

  kick(): void {
    this.#kickPending = true;
    this.#kick.fire();
  }

  /** Resolves once the head is beyond `position`, or when `signal` aborts. */
  async waitBeyond(position: bigint, signal: AbortSignal): Promise<void> {
    while (this.value <= position && !signal.aborted) await this.#moved.wait(undefined, signal);
  }
}
