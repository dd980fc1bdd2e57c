export { parseReplayPoint, type ReplayResult, replayStream } from './replay.ts';
export { replaySnapshots, type SnapshotStore } from './snapshots.ts';
export { auditedEventTypes, summarize } from './summaries.ts';
