import { type CommandContext, type CommandResult, type CommandStore, handle, load } from '../kernel/index.ts';
import { uploadsStreamId } from './events.ts';
import { type UploadRecord, type UploadsCommand, type UploadsState, uploadsDecider } from './uploads.ts';

/** Concurrent uploads of one tenant all append to its uploads stream: each retries until it decides. */
const UPLOAD_ATTEMPTS = 100;

type Input<T extends UploadsCommand['type']> = Omit<Extract<UploadsCommand, { type: T }>, 'type'>;

/** Runs one command on its tenant's uploads stream. */
function onUploads(
  store: CommandStore,
  command: UploadsCommand,
  context: CommandContext,
): Promise<CommandResult<UploadsState>> {
  return handle(store, uploadsStreamId(command.tenantId), uploadsDecider, command, {
    ...context,
    maxAttempts: UPLOAD_ATTEMPTS,
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

/** The tenant's upload with this id, or undefined (another tenant's upload is not found either). */
export async function findUpload(
  store: CommandStore,
  tenantId: string,
  uploadId: string,
): Promise<UploadRecord | undefined> {
  const { state } = await load(store, uploadsStreamId(tenantId), uploadsDecider);
  return state.uploads[uploadId];
}
