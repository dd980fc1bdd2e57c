import {
  type CommandContext,
  type CommandResult,
  type CommandStore,
  handle,
  type Loaded,
  load,
} from '../kernel/index.ts';
import { uploadsStreamId } from './events.ts';
import { type UploadRecord, type UploadsCommand, type UploadsState, uploadsDecider } from './uploads.ts';

/** Concurrent uploads of one tenant all append to its uploads stream: each retries until it decides. */
const UPLOAD_ATTEMPTS = 100;

type Input<T extends UploadsCommand['type']> = Omit<Extract<UploadsCommand, { type: T }>, 'type'>;

/**
 * The tenant's uploads, folded up to the stream's current end. A tenant's stream grows with every
 * upload it ever made, and every PATCH reads its upload: the decider keeps its state between loads
 * (`snapshots`), so a read folds only the events since the last (none, usually).
 */
export function loadUploads(store: CommandStore, tenantId: string): Promise<Loaded<UploadsState>> {
  return load(store, uploadsStreamId(tenantId), uploadsDecider);
}

/** Runs one command on its tenant's uploads stream (a concurrent writer's append: decided again). */
function onUploads(
  store: CommandStore,
  command: UploadsCommand,
  context: CommandContext,
): Promise<CommandResult<UploadsState>> {
  return handle(store, uploadsStreamId(command.tenantId), uploadsDecider, command, {
    ...context,
    maxAttempts: context.maxAttempts ?? UPLOAD_ATTEMPTS,
  });
}

/**
 * Starts an upload: refused (QUOTA_EXCEEDED naming `upload_bytes`) when its declared size and every
 * unfinished upload's together pass the plan's limit, whatever starts concurrently.
 */
export const startUpload = (store: CommandStore, input: Input<'StartUpload'>, context: CommandContext) =>
  onUploads(store, { type: 'StartUpload', ...input }, context);

export const completeUpload = (
  store: CommandStore,
  input: Input<'CompleteUpload'>,
  context: CommandContext,
) => onUploads(store, { type: 'CompleteUpload', ...input }, context);

/** Gives an unfinished upload up (its declared bytes count no longer); a finished one is left alone. */
export const failUpload = (store: CommandStore, input: Input<'FailUpload'>, context: CommandContext) =>
  onUploads(store, { type: 'FailUpload', ...input }, context);

/** Records that an unfinished upload saw no progress for too long; a finished or failed one is left alone. */
export const expireUpload = (store: CommandStore, input: Input<'ExpireUpload'>, context: CommandContext) =>
  onUploads(store, { type: 'ExpireUpload', ...input }, context);

/** The tenant's upload with this id, or undefined (another tenant's upload is not found either). */
export async function findUpload(
  store: CommandStore,
  tenantId: string,
  uploadId: string,
): Promise<UploadRecord | undefined> {
  const { state } = await loadUploads(store, tenantId);
  return state.uploads[uploadId];
}
