import type { Decider } from '../kernel/index.ts';
import { conflict, invalid, notFound } from '../kernel/index.ts';
import { checkEvents, type ImageEvent } from './events.ts';

export type ImageStatus = 'building' | 'built' | 'failed' | 'deleted';

export interface ImagePush {
  ref: string;
  digest: string | null;
  by: string;
  at: string;
}

export interface ImageRecord {
  imageId: string;
  agentId: string;
  name: string;
  tag: string;
  dockerfile: string;
  contextBytes: number;
  by: string;
  requestedAt: string;
  status: ImageStatus;
  /** The engine's id of the built image. */
  dockerId?: string;
  reason?: string;
  finishedAt?: string;
  /** Every push, the latest last. */
  pushes: ImagePush[];
}

/** A tenant's image catalog: one stream per tenant, like its uploads. */
export interface ImagesState {
  images: Record<string, ImageRecord>;
}

export type ImagesCommand =
  | {
      type: 'RequestImageBuild';
      tenantId: string;
      imageId: string;
      agentId: string;
      name: string;
      tag: string;
      dockerfile: string;
      contextBytes: number;
      by: string;
      at: string;
    }
  | { type: 'RecordImageBuilt'; tenantId: string; imageId: string; dockerId: string; at: string }
  | { type: 'RecordImageBuildFailed'; tenantId: string; imageId: string; reason: string; at: string }
  | {
      type: 'RecordImagePushed';
      tenantId: string;
      imageId: string;
      ref: string;
      digest: string | null;
      by: string;
      at: string;
    }
  | {
      type: 'DeleteImage';
      tenantId: string;
      imageId: string;
      /** The workspaces (not deleted) whose image is this one's: deleting is refused while any is. */
      usedBy: string[];
      by: string;
      at: string;
    };

const initialState = (): ImagesState => ({ images: {} });

/** The local reference the agent tags a build with (`name:tag`). */
export const localRefOf = (image: Pick<ImageRecord, 'name' | 'tag'>) => `${image.name}:${image.tag}`;

/** Every reference a workspace may name this image by: its local tag and each pushed ref. */
export const refsOf = (image: ImageRecord) => [localRefOf(image), ...image.pushes.map((p) => p.ref)];

function decide(command: ImagesCommand, state: ImagesState): ImageEvent[] {
  return checkEvents(decideUnchecked(command, state), invalid);
}

function decideUnchecked(command: ImagesCommand, state: ImagesState): ImageEvent[] {
  const known = state.images[command.imageId];
  switch (command.type) {
    case 'RequestImageBuild': {
      if (known) throw conflict(`image ${command.imageId} already exists`);
      const { type: _, ...data } = command;
      return [{ type: 'ImageBuildRequested', data }];
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
    case 'RecordImagePushed': {
      if (!known || known.status === 'deleted') throw notFound('image');
      if (known.status !== 'built')
        throw conflict(`the image is ${known.status}: only a built image is pushed`);
      const { type: _, ...data } = command;
      return [{ type: 'ImagePushed', data }];
    }
    case 'DeleteImage': {
      if (!known || known.status === 'deleted') throw notFound('image');
      if (known.status === 'building') throw conflict('the image is still building');
      if (command.usedBy.length > 0) {
        throw conflict(`the image is used by the workspace(s) ${command.usedBy.join(', ')}`);
      }
      return [
        {
          type: 'ImageDeleted',
          data: { imageId: command.imageId, tenantId: command.tenantId, by: command.by, at: command.at },
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
      const { tenantId: _, at, ...rest } = event.data;
      return put({ ...rest, requestedAt: at, status: 'building', pushes: [] });
    }
    case 'ImageBuildSucceeded':
      return known
        ? put({ ...known, status: 'built', dockerId: event.data.dockerId, finishedAt: event.data.at })
        : state;
    case 'ImageBuildFailed':
      return known
        ? put({ ...known, status: 'failed', reason: event.data.reason, finishedAt: event.data.at })
        : state;
    case 'ImagePushed': {
      if (!known) return state;
      const { ref, digest, by, at } = event.data;
      return put({ ...known, pushes: [...known.pushes, { ref, digest, by, at }] });
    }
    case 'ImageDeleted':
      return known ? put({ ...known, status: 'deleted' }) : state;
  }
}

export const imagesDecider: Decider<ImagesCommand, ImageEvent, ImagesState> = {
  initialState,
  decide,
  evolve,
};
