import type { RebuildProgress } from './rebuild.ts';
import type { ProjectionErrorInfo } from './rows.ts';

export type ProjectionState = 'live' | 'catching_up' | 'rebuilding' | 'failed' | 'stopped';

export interface ProjectionStatus {
  name: string;
  /** Version of the projection's code. */
  version: number;
  /** Checkpoint: every event at or below it is in the read model. */
  position: bigint;
  head: bigint;
  /** Events in the store after the checkpoint. */
  lag: number;
  state: ProjectionState;
  lastError: ProjectionErrorInfo | null;
  /** Set while a rebuild runs (here or in another process). */
  rebuild: RebuildProgress | null;
}

/** A state read back from the table, as the engine that runs the projection last recorded it. */
export function storedState(state: string | undefined): ProjectionState {
  return state === 'live' || state === 'catching_up' || state === 'failed' || state === 'rebuilding'
    ? state
    : 'stopped';
}
