import type { AppendResult } from '../port.ts';
import type { ValidAppend } from '../validate.ts';

export interface GroupCommitOptions {
  /** Statements in flight at once; appends arriving while every lane is busy wait and go together. */
  lanes: number;
  /** Most appends in one statement. */
  maxAppends: number;
  /** Most events in one statement (a transaction holds at most 2^20). */
  maxEvents: number;
}

export const GROUP_COMMIT_DEFAULTS: GroupCommitOptions = { lanes: 2, maxAppends: 64, maxEvents: 2000 };

interface Pending {
  append: ValidAppend;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for independent appends (PostgreSQL's own trick for WAL flushes, one level up): an
 * append that finds a lane free goes at once, alone, so an idle service waits for nothing; appends
 * that arrive while every lane is busy queue and leave together as one statement — one round trip
 * and one commit for all of them. Measured on this machine (2 cores, PostgreSQL 15): 16 writers of
 * one-event appends cost the server 260 µs of CPU per event one by one and 60–90 µs in groups of
 * 8–16, and ran 4.2k/s against 11.8k/s.
 *
 * A group is one transaction, so its appends commit together; each still stands alone to its
 * caller: if the group's statement fails (one bad append, a deadlock, a dropped connection), every
 * append in it is sent again by itself and gets its own answer — the good ones succeed (an append
 * that did commit before the connection dropped is found by its event ids), the bad one fails as it
 * would have alone. Only used for appends whose expectation is `any` (records of facts already
 * decided): those cannot conflict, so a group almost never fails.
 */
export class GroupCommit {
  readonly #queue: Pending[] = [];
  #inFlight = 0;

  constructor(
    private readonly one: (append: ValidAppend) => Promise<AppendResult>,
    private readonly many: (appends: readonly ValidAppend[]) => Promise<AppendResult[]>,
    private readonly options: GroupCommitOptions = GROUP_COMMIT_DEFAULTS,
  ) {}

  append(append: ValidAppend): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ append, resolve, reject });
      this.#drain();
    });
  }

  #drain(): void {
    while (this.#inFlight < this.options.lanes && this.#queue.length > 0) {
      const group = this.#take();
      this.#inFlight++;
      void this.#send(group);
    }
  }

  /** The oldest appends, up to the limits (at least one, whatever its size). */
  #take(): Pending[] {
    let events = 0;
    let n = 0;
    while (n < this.#queue.length && n < this.options.maxAppends) {
      const size = this.#queue[n]!.append.events.length;
      if (n > 0 && events + size > this.options.maxEvents) break;
      events += size;
      n++;
    }
    return this.#queue.splice(0, n);
  }

  async #send(group: Pending[]): Promise<void> {
    const outcomes = await this.#outcomes(group);
    // The lane is free before any caller hears back: a caller that appends again at once finds it
    // free (and goes alone) instead of queueing behind a lane about to be released.
    this.#inFlight--;
    this.#drain();
    group.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if (outcome.status === 'fulfilled') p.resolve(outcome.value);
      else p.reject(outcome.reason);
    });
  }

  async #outcomes(group: Pending[]): Promise<PromiseSettledResult<AppendResult>[]> {
    if (group.length > 1) {
      try {
        const results = await this.many(group.map((p) => p.append));
        return results.map((value) => ({ status: 'fulfilled', value }));
      } catch {
        // Sent again one by one below: each append answers for itself.
      }
    }
    return Promise.allSettled(group.map((p) => this.one(p.append)));
  }
}
