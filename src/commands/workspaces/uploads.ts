import type { Decider } from '../kernel/index.ts';
import { conflict, invalid, notFound, quotaExceeded } from '../kernel/index.ts';
import { checkEvents, type UploadEvent } from './events.ts';

export type UploadStatus = 'uploading' | 'completed' | 'failed' | 'expired';

export interface UploadRecord {
  uploadId: string;
  agentId: string;
  fileName: string;
  size: number;
  sha256: string;
  by: string;
  startedAt: string;
  status: UploadStatus;
  /** The workspace whose data folder receives the file, and where in it. */
  workspaceId?: string;
  workspacePath?: string;
  /** Where the agent keeps the finished file (once completed). */
  path?: string;
  reason?: string;
}

/**
 * A tenant's uploads: one stream per tenant, so every start decides against the bytes all unfinished
 * uploads have declared, with the expected revision: concurrent starts cannot together pass the plan's
 * `uploadBytes`.
 */
export interface UploadsState {
  uploads: Record<string, UploadRecord>;
}

export type UploadsCommand =
  | {
      type: 'StartUpload';
      tenantId: string;
      uploadId: string;
      agentId: string;
      fileName: string;
      size: number;
      sha256: string;
      /** A workspace's data folder as the target (its agent is `agentId`), with the file's path in it. */
      workspaceId?: string;
      path?: string;
      by: string;
      /** The plan's `uploadBytes` (null: unlimited). */
      limit: number | null;
      at: string;
    }
  | { type: 'CompleteUpload'; tenantId: string; uploadId: string; path: string; at: string }
  | { type: 'FailUpload'; tenantId: string; uploadId: string; reason: string; at: string }
  | { type: 'ExpireUpload'; tenantId: string; uploadId: string; idleSince: string; at: string };

const initialState = (): UploadsState => ({ uploads: {} });

/** The bytes the tenant's unfinished uploads have declared. */
export function bytesInFlight(state: UploadsState): number {
  let total = 0;
  for (const upload of Object.values(state.uploads)) if (upload.status === 'uploading') total += upload.size;
  return total;
}

function decide(command: UploadsCommand, state: UploadsState): UploadEvent[] {
  return checkEvents(decideUnchecked(command, state), invalid);
}

function decideUnchecked(command: UploadsCommand, state: UploadsState): UploadEvent[] {
  const known = state.uploads[command.uploadId];
  switch (command.type) {
    case 'StartUpload': {
      if (known) throw conflict(`upload ${command.uploadId} already exists`);
      const used = bytesInFlight(state);
      if (command.limit !== null && used + command.size > command.limit) {
        throw quotaExceeded(
          { name: 'upload_bytes', limit: command.limit, resetAt: null, retryAfterSeconds: null },
          `the plan's upload_bytes quota is ${command.limit} bytes; unfinished uploads hold ${used} and this one declares ${command.size}`,
        );
      }
      const { type: _, limit: __, ...data } = command;
      return [{ type: 'UploadStarted', data }];
    }
    case 'CompleteUpload': {
      if (!known) throw notFound('upload');
      if (known.status === 'completed') return [];
      if (known.status === 'failed') throw conflict(`the upload failed: ${known.reason ?? ''}`);
      if (known.status === 'expired') throw conflict('the upload expired');
      const { type: _, ...data } = command;
      return [{ type: 'UploadCompleted', data }];
    }
    case 'FailUpload': {
      if (!known) throw notFound('upload');
      if (known.status !== 'uploading') return [];
      const { type: _, ...data } = command;
      return [{ type: 'UploadFailed', data }];
    }
    case 'ExpireUpload': {
      if (!known) throw notFound('upload');
      if (known.status !== 'uploading') return [];
      const { type: _, ...data } = command;
      return [{ type: 'UploadExpired', data }];
    }
  }
}

function evolve(state: UploadsState, event: UploadEvent): UploadsState {
  const uploads = state.uploads;
  switch (event.type) {
    case 'UploadStarted': {
      const { tenantId: _, at, path, workspaceId, ...rest } = event.data;
      const record: UploadRecord = { ...rest, startedAt: at, status: 'uploading' };
      if (workspaceId !== undefined) record.workspaceId = workspaceId;
      if (path !== undefined) record.workspacePath = path;
      return { uploads: { ...uploads, [rest.uploadId]: record } };
    }
    case 'UploadCompleted': {
      const known = uploads[event.data.uploadId];
      if (!known) return state;
      return {
        uploads: { ...uploads, [known.uploadId]: { ...known, status: 'completed', path: event.data.path } },
      };
    }
    case 'UploadFailed': {
      const known = uploads[event.data.uploadId];
      if (!known) return state;
      return {
        uploads: { ...uploads, [known.uploadId]: { ...known, status: 'failed', reason: event.data.reason } },
      };
    }
    case 'UploadExpired': {
      const known = uploads[event.data.uploadId];
      if (!known) return state;
      const reason = `no byte arrived since ${event.data.idleSince}`;
      return { uploads: { ...uploads, [known.uploadId]: { ...known, status: 'expired', reason } } };
    }
  }
}

export const uploadsDecider: Decider<UploadsCommand, UploadEvent, UploadsState> = {
  initialState,
  decide,
  evolve,
  // One stream per tenant, grown by every upload it ever made and read by every PATCH: kept between
  // loads (no personal fields; `evolve` copies what it changes).
  snapshots: true,
};
