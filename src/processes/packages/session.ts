import { deriveId, load, toNewEvents } from '../../commands/kernel/index.ts';
import {
  type PackageCommand,
  type PackageEvent,
  type PackageState,
  packageDecider,
} from '../../commands/packages/index.ts';
import type { EventStore } from '../../eventstore/port.ts';
import {
  type AppendResult,
  type EventMetadata,
  type ExpectedRevision,
  type NewEvent,
  WrongExpectedRevisionError,
} from '../../eventstore/port.ts';
import type { NewJob } from '../runtime/index.ts';
import { jobFor } from './pipeline.ts';

/**
 * Appends a package's events and queues the jobs they call for. Where the event store lives in the
 * jobs' database both commit in one transaction; elsewhere the jobs are left to the process manager,
 * which queues the same ones when it sees the events.
 */
export type RecordEvents = (
  streamId: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
  jobs: readonly NewJob[],
) => Promise<AppendResult>;

type StageCommand = Exclude<PackageCommand, { type: 'ReceivePackage' }>;

/**
 * A package's stream, loaded once by a job: commands are decided in memory, one after the other on
 * the state the previous one left, and their events appended together by {@link flush} — one round
 * trip for a stage's steps instead of a load and an append per step. A writer that got in between
 * (an approver, the advisory monitor) makes the append conflict: the stream is loaded again and the
 * same commands decided again on it, as the one write path does for a single command. Event ids
 * derive from the job, its attempt and the revision they follow, so a retried append whose answer
 * was lost appends nothing twice.
 */
export class PackageSession {
  private commands: StageCommand[] = [];
  private events: PackageEvent[] = [];

  private constructor(
    private readonly store: EventStore,
    private readonly record: RecordEvents,
    readonly streamId: string,
    private readonly metadata: EventMetadata,
    private readonly key: readonly (string | number)[],
    public state: PackageState,
    private revision: number,
  ) {}

  static async open(
    deps: { store: EventStore; record: RecordEvents },
    streamId: string,
    metadata: EventMetadata,
    key: readonly (string | number)[],
  ): Promise<PackageSession> {
    const loaded = await load(deps.store, streamId, packageDecider);
    return new PackageSession(
      deps.store,
      deps.record,
      streamId,
      metadata,
      key,
      loaded.state,
      loaded.revision,
    );
  }

  /** Decides a command on the current state; its events are recorded by the next {@link flush}. */
  decide(command: StageCommand): void {
    const events = packageDecider.decide(command, this.state);
    if (events.length === 0) return;
    this.commands.push(command);
    this.events.push(...events);
    this.state = events.reduce(packageDecider.evolve, this.state);
  }

  /** Events decided and not yet recorded. */
  get pending(): number {
    return this.events.length;
  }

  /** Appends what was decided since the last flush, in one append, with the jobs it calls for. */
  async flush(maxAttempts = 5): Promise<void> {
    for (let attempt = 1; this.events.length > 0; attempt++) {
      try {
        const commandId = await deriveId('packageSession', ...this.key, this.revision);
        const events = await toNewEvents(this.events, { metadata: this.metadata, commandId });
        const jobs: NewJob[] = [];
        for (const event of events) {
          const job = await jobFor(event, this.metadata.correlationId ?? '');
          // An approval whose publishing this very job started needs no publishing job.
          if (job && (job.kind !== 'publish' || this.state.status === 'approved')) jobs.push(job);
        }
        const result = await this.record(
          this.streamId,
          events,
          this.revision < 0 ? 'no_stream' : this.revision,
          jobs,
        );
        this.revision = result.revision;
        this.commands = [];
        this.events = [];
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError) || attempt >= maxAttempts) throw error;
        const loaded = await load(this.store, this.streamId, packageDecider);
        const commands = this.commands;
        this.state = loaded.state;
        this.revision = loaded.revision;
        this.commands = [];
        this.events = [];
        for (const command of commands) this.decide(command);
      }
    }
  }
}
