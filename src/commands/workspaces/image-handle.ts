import { type CommandContext, type CommandResult, type CommandStore, handle, load } from '../kernel/index.ts';
import { imagesStreamId } from './events.ts';
import { type ImageRecord, type ImagesCommand, type ImagesState, imagesDecider } from './images.ts';

/** Concurrent builds of one tenant all append to its images stream: each retries until it decides. */
const IMAGE_ATTEMPTS = 100;

type Input<T extends ImagesCommand['type']> = Omit<Extract<ImagesCommand, { type: T }>, 'type'>;

function onImages(
  store: CommandStore,
  command: ImagesCommand,
  context: CommandContext,
): Promise<CommandResult<ImagesState>> {
  return handle(store, imagesStreamId(command.tenantId), imagesDecider, command, {
    ...context,
    maxAttempts: IMAGE_ATTEMPTS,
  });
}

export const requestImageBuild = (
  store: CommandStore,
  input: Input<'RequestImageBuild'>,
  context: CommandContext,
) => onImages(store, { type: 'RequestImageBuild', ...input }, context);

/** A worker starts the build: refused (`already_started`) when another worker started it and died. */
export const startImageBuild = (
  store: CommandStore,
  input: Input<'StartImageBuild'>,
  context: CommandContext,
) => onImages(store, { type: 'StartImageBuild', ...input }, context);

/** Cancels a build under way (409 once it ended). */
export const cancelImageBuild = (
  store: CommandStore,
  input: Input<'CancelImageBuild'>,
  context: CommandContext,
) => onImages(store, { type: 'CancelImageBuild', ...input }, context);

/** A push begins: recorded before the agent is asked, so a client may follow it again by its id. */
export const startImagePush = (
  store: CommandStore,
  input: Input<'StartImagePush'>,
  context: CommandContext,
) => onImages(store, { type: 'StartImagePush', ...input }, context);

/** A push the agent or registry refused (nothing new when that push already ended). */
export const recordImagePushFailed = (
  store: CommandStore,
  input: Input<'RecordImagePushFailed'>,
  context: CommandContext,
) => onImages(store, { type: 'RecordImagePushFailed', ...input }, context);

export const recordImageBuilt = (
  store: CommandStore,
  input: Input<'RecordImageBuilt'>,
  context: CommandContext,
) => onImages(store, { type: 'RecordImageBuilt', ...input }, context);

export const recordImageBuildFailed = (
  store: CommandStore,
  input: Input<'RecordImageBuildFailed'>,
  context: CommandContext,
) => onImages(store, { type: 'RecordImageBuildFailed', ...input }, context);

export const recordImagePushed = (
  store: CommandStore,
  input: Input<'RecordImagePushed'>,
  context: CommandContext,
) => onImages(store, { type: 'RecordImagePushed', ...input }, context);

/** Deletes the image from the catalog: refused (409 naming them) while workspaces use it. */
export const deleteImage = (store: CommandStore, input: Input<'DeleteImage'>, context: CommandContext) =>
  onImages(store, { type: 'DeleteImage', ...input }, context);

/** The tenant's images (deleted ones included). */
export async function tenantImages(store: CommandStore, tenantId: string): Promise<ImagesState> {
  return (await load(store, imagesStreamId(tenantId), imagesDecider)).state;
}

/** The tenant's image with this id, or undefined (another tenant's image is not found either). */
export async function findImage(
  store: CommandStore,
  tenantId: string,
  imageId: string,
): Promise<ImageRecord | undefined> {
  return (await tenantImages(store, tenantId)).images[imageId];
}
