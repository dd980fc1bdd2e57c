import type { Decider } from '../kernel/index.ts';
import { conflict, invalid, notFound, ruleViolated } from '../kernel/index.ts';
import { type BuildOptions, buildOptions } from './build-options.ts';
import { checkEvents, type ImageEvent } from './events.ts';

/** `lost`: it was built, but its agent's engine answered it no longer holds it (`ImageLost`). */
export type ImageStatus = 'building' | 'built' | 'failed' | 'cancelled' | 'lost' | 'deleted';

export interface ImagePush {
  ref: string;
  digest: string | null;
  /** Its progress lines are output frames under this id (absent in pushes recorded before). */
  pushId?: string;
  by: string;
  at: string;
}

/** A push under way: started, not yet pushed nor refused; its progress lines under `pushId`. */
export interface ImagePushInProgress {
  ref: string;
  pushId: string;
  by: string;
  at: string;
}

/** A push the agent or registry refused: the reason, and its progress lines under `pushId`. */
export interface ImagePushFailure {
  ref: string;
  pushId: string;
  reason: string;
  by: string;
  at: string;
}

export interface ImageRecord extends BuildOptions {
  imageId: string;
  agentId: string;
  name: string;
  tag: string;
  dockerfile: string;
  contextBytes: number;
  /** The context staged on the agent, named (with its SHA-256) by the build. */
  contextId?: string;
  contextSha256?: string;
  by: string;
  requestedAt: string;
  /** The worker that started the build (set once: a second start means it died). */
  startedBy?: string;
  status: ImageStatus;
  /** The engine's id of the built image. */
  dockerId?: string;
  reason?: string;
  finishedAt?: string;
  /** Every push, the latest last. */
  pushes: ImagePush[];
  /** Every refused push, the latest last. */
  pushFailures: ImagePushFailure[];
  /** Pushes started and not ended, the oldest first (absent in records kept before pushes were started). */
  pushesInProgress?: ImagePushInProgress[];
  /** What became of the pushed manifests when the image was deleted. */
  registry?: 'removed' | 'kept' | 'none';
  registryDetail?: string;
}

/** A tenant's image catalog: one stream per tenant, like its uploads. */
export interface ImagesState {
  images: Record<string, ImageRecord>;
}

export type ImagesCommand =
  | ({
      type: 'RequestImageBuild';
      tenantId: string;
      imageId: string;
      agentId: string;
      name: string;
      tag: string;
      dockerfile: string;
      contextBytes: number;
      contextId?: string;
      contextSha256?: string;
      /**
       * The images of this tag on this agent that the agent answered it no longer holds, asked after
       * they were seen `built`: recorded lost, and the tag taken, in this decision.
       */
      goneFromAgent?: string[];
      by: string;
      at: string;
    } & BuildOptions)
  | { type: 'StartImageBuild'; tenantId: string; imageId: string; worker: string; at: string }
  | { type: 'CancelImageBuild'; tenantId: string; imageId: string; by: string; at: string }
  | { type: 'RecordImageBuilt'; tenantId: string; imageId: string; dockerId: string; at: string }
  | { type: 'RecordImageBuildFailed'; tenantId: string; imageId: string; reason: string; at: string }
  | {
      type: 'StartImagePush';
      tenantId: string;
      imageId: string;
      ref: string;
      pushId: string;
      by: string;
      at: string;
    }
  | {
      type: 'RecordImagePushed';
      tenantId: string;
      imageId: string;
      ref: string;
      digest: string | null;
      pushId?: string;
      by: string;
      at: string;
    }
  | {
      type: 'RecordImagePushFailed';
      tenantId: string;
      imageId: string;
      ref: string;
      pushId: string;
      reason: string;
      by: string;
      at: string;
    }
  | {
      type: 'DeleteImage';
      tenantId: string;
      imageId: string;
      /** The workspaces (not deleted) whose image is this one's: deleting is refused while any is. */
      usedBy: string[];
      registry?: 'removed' | 'kept' | 'none';
      registryDetail?: string;
      by: string;
      at: string;
    };

const initialState = (): ImagesState => ({ images: {} });

/** The local reference the agent tags a build with (`name:tag`). */
export const localRefOf = (image: Pick<ImageRecord, 'name' | 'tag'>) => `${image.name}:${image.tag}`;

/** Every reference a workspace may name this image by: its local tag and each pushed ref. */
export const refsOf = (image: ImageRecord) => [localRefOf(image), ...image.pushes.map((p) => p.ref)];

/**
 * The references deleting `image` may remove (and that a workspace must not be using): those of
 * {@link refsOf} no other image of the catalog answers for too. Its local tag is another's once the
 * image is lost (the agent found it gone) or another build of the tag on that agent is building or
 * built (a tag built again after a loss or a failure); a pushed ref another image not deleted was
 * pushed to as well stays until the last of them goes.
 */
export function ownRefsOf(image: ImageRecord, catalog: ImagesState): string[] {
  const others = Object.values(catalog.images).filter(
    (other) => other.imageId !== image.imageId && other.status !== 'deleted',
  );
  const local = localRefOf(image);
  const tagTaken =
    image.status === 'lost' ||
    others.some(
      (other) =>
        other.agentId === image.agentId &&
        localRefOf(other) === local &&
        (other.status === 'building' || other.status === 'built'),
    );
  const pushedByOthers = new Set(others.flatMap((other) => other.pushes.map((p) => p.ref)));
  const pushed = [...new Set(image.pushes.map((p) => p.ref))].filter((ref) => !pushedByOthers.has(ref));
  return [...(tagTaken ? [] : [local]), ...pushed];
}

/** The push with this id ended: pushed or refused. */
const pushEnded = (image: ImageRecord, pushId: string) =>
  image.pushes.some((p) => p.pushId === pushId) || image.pushFailures.some((p) => p.pushId === pushId);

/** The push with this id was started or ended on this image. */
export const pushKnown = (image: ImageRecord, pushId: string) =>
  pushEnded(image, pushId) || (image.pushesInProgress ?? []).some((p) => p.pushId === pushId);

/** The image's pushes under way without the one with this id (it ended). */
const withoutInProgress = (image: ImageRecord, pushId: string | undefined) =>
  pushId === undefined || !image.pushesInProgress
    ? {}
    : { pushesInProgress: image.pushesInProgress.filter((p) => p.pushId !== pushId) };

function decide(command: ImagesCommand, state: ImagesState): ImageEvent[] {
  return checkEvents(decideUnchecked(command, state), invalid);
}

function decideUnchecked(command: ImagesCommand, state: ImagesState): ImageEvent[] {
  const known = state.images[command.imageId];
  switch (command.type) {
    case 'RequestImageBuild': {
      if (known) throw conflict(`image ${command.imageId} already exists`);
      // The request checked that the agent does not hold the tag, but a build of it under way (or
      // just built) is not on the agent yet: two requests at once both pass that check. The tenant's
      // one images stream decides them in turn, so the second meets the first here. A built one the
      // agent was asked about after it was built, and answered it no longer holds, is lost: the tag
      // is free again (a build under way is never taken as gone, and the second of two requests over
      // one lost image meets the first one's build here).
      const gone = new Set(command.goneFromAgent ?? []);
      const sameTag = Object.values(state.images).filter(
        (image) =>
          image.agentId === command.agentId && image.name === command.name && image.tag === command.tag,
      );
      const taken = sameTag.find(
        (image) => image.status === 'building' || (image.status === 'built' && !gone.has(image.imageId)),
      );
      if (taken) {
        // Only built images can be found lost: a tag held by a build under way names none.
        const built = sameTag.filter((image) => image.status === 'built' && !gone.has(image.imageId));
        throw ruleViolated(
          'tag_in_use',
          `${localRefOf(command)} is already ${taken.status} on this agent (image ${taken.imageId}): build another tag, or delete that image first`,
          taken.status === 'built' ? built.map((image) => image.imageId) : [],
        );
      }
      const { type: _, goneFromAgent: __, ...data } = command;
      const lost = sameTag
        .filter((image) => image.status === 'built')
        .map(
          (image): ImageEvent => ({
            type: 'ImageLost',
            data: {
              imageId: image.imageId,
              tenantId: command.tenantId,
              rebuiltAs: command.imageId,
              by: command.by,
              at: command.at,
            },
          }),
        );
      return [...lost, { type: 'ImageBuildRequested', data }];
    }
    case 'StartImageBuild': {
      if (!known) throw notFound('image');
      if (known.status !== 'building') return [];
      if (known.startedBy !== undefined) {
        throw ruleViolated('already_started', `the build was started by worker ${known.startedBy}`);
      }
      const { type: _, ...data } = command;
      return [{ type: 'ImageBuildStarted', data }];
    }
    case 'CancelImageBuild': {
      if (!known || known.status === 'deleted') throw notFound('image');
      if (known.status !== 'building') {
        throw conflict(`the image is ${known.status}: only a build under way is cancelled`);
      }
      const { type: _, ...data } = command;
      return [{ type: 'ImageBuildCancelled', data }];
    }
    case 'RecordImageBuilt': {
      if (!known) throw notFound('image');
      if (known.status !== 'building') return [];
      const { type: _, ...data } = command;
      return [{ type: 'ImageBuildSucceeded', data }];
    }
    case 'RecordImageBuildFailed': {
      if (!known) throw notFound('image');
      if (known.status !== 'building') return [];
      const { type: _, ...data } = command;
      return [{ type: 'ImageBuildFailed', data: { ...data, reason: data.reason.slice(0, 2000) } }];
    }
    case 'StartImagePush': {
      if (!known || known.status === 'deleted') throw notFound('image');
      if (known.status !== 'built')
        throw conflict(`the image is ${known.status}: only a built image is pushed`);
      if (pushKnown(known, command.pushId)) throw conflict(`push ${command.pushId} already exists`);
      const { type: _, ...data } = command;
      return [{ type: 'ImagePushStarted', data }];
    }
    case 'RecordImagePushed': {
      if (!known || known.status === 'deleted') throw notFound('image');
      if (known.status !== 'built')
        throw conflict(`the image is ${known.status}: only a built image is pushed`);
      // A push ends once: its second end (a retry, or one ended as interrupted meanwhile) is nothing new.
      if (command.pushId !== undefined && pushEnded(known, command.pushId)) return [];
      const { type: _, ...data } = command;
      return [{ type: 'ImagePushed', data }];
    }
    case 'RecordImagePushFailed': {
      if (!known || known.status === 'deleted') throw notFound('image');
      if (pushEnded(known, command.pushId)) return [];
      const { type: _, ...data } = command;
      return [{ type: 'ImagePushFailed', data: { ...data, reason: data.reason.slice(0, 2000) } }];
    }
    case 'DeleteImage': {
      if (!known || known.status === 'deleted') throw notFound('image');
      if (known.status === 'building') throw conflict('the image is still building');
      if (command.usedBy.length > 0) {
        throw conflict(`the image is used by the workspace(s) ${command.usedBy.join(', ')}`);
      }
      const { type: _, usedBy: __, registryDetail, ...data } = command;
      return [
        {
          type: 'ImageDeleted',
          data: { ...data, ...(registryDetail ? { registryDetail: registryDetail.slice(0, 1000) } : {}) },
        },
      ];
    }
  }
}

function evolve(state: ImagesState, event: ImageEvent): ImagesState {
  const images = state.images;
  const known = images[event.data.imageId];
  const put = (record: ImageRecord): ImagesState => ({ images: { ...images, [record.imageId]: record } });
  switch (event.type) {
    case 'ImageBuildRequested': {
      const { tenantId: _, at, contextId, contextSha256, buildArgs, target, noCache, ...rest } = event.data;
      return put({
        ...rest,
        ...(contextId ? { contextId } : {}),
        ...(contextSha256 ? { contextSha256 } : {}),
        ...buildOptions({ buildArgs, target, noCache }),
        requestedAt: at,
        status: 'building',
        pushes: [],
        pushFailures: [],
      });
    }
    case 'ImageBuildStarted':
      return known ? put({ ...known, startedBy: event.data.worker }) : state;
    case 'ImageBuildCancelled':
      return known
        ? put({
            ...known,
            status: 'cancelled',
            reason: `cancelled by ${event.data.by}`,
            finishedAt: event.data.at,
          })
        : state;
    case 'ImageBuildSucceeded':
      return known
        ? put({ ...known, status: 'built', dockerId: event.data.dockerId, finishedAt: event.data.at })
        : state;
    case 'ImageBuildFailed':
      return known
        ? put({ ...known, status: 'failed', reason: event.data.reason, finishedAt: event.data.at })
        : state;
    case 'ImagePushStarted': {
      if (!known) return state;
      const { ref, pushId, by, at } = event.data;
      return put({
        ...known,
        pushesInProgress: [...(known.pushesInProgress ?? []), { ref, pushId, by, at }],
      });
    }
    case 'ImagePushed': {
      if (!known) return state;
      const { ref, digest, pushId, by, at } = event.data;
      const push: ImagePush = { ref, digest, ...(pushId ? { pushId } : {}), by, at };
      return put({ ...known, pushes: [...known.pushes, push], ...withoutInProgress(known, pushId) });
    }
    case 'ImagePushFailed': {
      if (!known) return state;
      const { imageId: _, tenantId: __, ...failure } = event.data;
      return put({
        ...known,
        pushFailures: [...known.pushFailures, failure],
        ...withoutInProgress(known, failure.pushId),
      });
    }
    case 'ImageLost':
      return known
        ? put({
            ...known,
            status: 'lost',
            reason: `its agent no longer held ${localRefOf(known)} when image ${event.data.rebuiltAs} was asked for`,
          })
        : state;
    case 'ImageDeleted': {
      if (!known) return state;
      const { registry, registryDetail } = event.data;
      return put({
        ...known,
        status: 'deleted',
        ...(registry ? { registry } : {}),
        ...(registryDetail ? { registryDetail } : {}),
      });
    }
  }
}

export const imagesDecider: Decider<ImagesCommand, ImageEvent, ImagesState> = {
  initialState,
  decide,
  evolve,
  // One stream per tenant, read by every build, push and read of an image: kept between loads (no
  // personal fields; `evolve` copies what it changes).
  snapshots: true,
};
