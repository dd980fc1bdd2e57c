import { describe, expect, it } from 'vitest';
import {
  bytesInFlight,
  type UploadEvent,
  UploadFileName,
  uploadsDecider,
  WorkspaceFilePath,
} from '../../src/commands/workspaces/index.ts';
import { specFor } from '../support/decider-spec.ts';

const spec = specFor(uploadsDecider);
const tenantId = '00000000-0000-4000-8000-000000000001';
const agentId = '00000000-0000-4000-8000-000000000002';
const at = '2026-12-02T10:00:00.000Z';
const id = (n: number) => `00000000-0000-4000-8000-0000000001${String(n).padStart(2, '0')}`;
const sha = 'a'.repeat(64);
const started = (n: number, size: number): UploadEvent => ({
  type: 'UploadStarted',
  data: { uploadId: id(n), tenantId, agentId, fileName: `f${n}.img`, size, sha256: sha, by: 'u', at },
});
const start = (n: number, size: number, limit: number | null) => ({
  type: 'StartUpload' as const,
  tenantId,
  uploadId: id(n),
  agentId,
  fileName: `f${n}.img`,
  size,
  sha256: sha,
  by: 'u',
  limit,
  at,
});

describe('the uploads decider', () => {
  it('starts an upload that fits beside the unfinished ones', () => {
    spec
      .given([started(1, 600)])
      .when(start(2, 400, 1000))
      .thenEvents([started(2, 400)]);
  });

  it('refuses an upload that would pass upload_bytes with the unfinished ones (QUOTA_EXCEEDED)', () => {
    spec
      .given([started(1, 600)])
      .when(start(2, 401, 1000))
      .thenFails('QUOTA_EXCEEDED');
  });

  it('counts finished and failed uploads no longer', () => {
    const events: UploadEvent[] = [
      started(1, 600),
      { type: 'UploadCompleted', data: { uploadId: id(1), tenantId, path: '/s/1/f1.img', at } },
      started(2, 300),
      { type: 'UploadFailed', data: { uploadId: id(2), tenantId, reason: 'checksum', at } },
    ];
    spec
      .given(events)
      .when(start(3, 1000, 1000))
      .thenEvents([started(3, 1000)]);
    expect(bytesInFlight(events.reduce(uploadsDecider.evolve, uploadsDecider.initialState()))).toBe(0);
  });

  it('refuses a second start with the same id, and completing a failed upload', () => {
    spec
      .given([started(1, 10)])
      .when(start(1, 10, null))
      .thenFails('CONFLICT');
    spec
      .given([started(1, 10), { type: 'UploadFailed', data: { uploadId: id(1), tenantId, reason: 'x', at } }])
      .when({ type: 'CompleteUpload', tenantId, uploadId: id(1), path: '/p', at })
      .thenFails('CONFLICT');
  });

  it('fails an unfinished upload once; a finished one is left alone', () => {
    spec
      .given([started(1, 10), { type: 'UploadFailed', data: { uploadId: id(1), tenantId, reason: 'x', at } }])
      .when({ type: 'FailUpload', tenantId, uploadId: id(1), reason: 'again', at })
      .thenEvents([]);
    spec
      .given([
        started(1, 10),
        { type: 'UploadCompleted', data: { uploadId: id(1), tenantId, path: '/p', at } },
      ])
      .when({ type: 'FailUpload', tenantId, uploadId: id(1), reason: 'late', at })
      .thenEvents([]);
  });

  it('accepts plain file names and refuses any that could leave the store', () => {
    for (const name of ['disk.img', 'data set (1).csv', '.hidden', 'ä.bin']) {
      expect(UploadFileName.safeParse(name).success).toBe(true);
    }
    for (const name of ['', '.', '..', '../x', 'a/b', 'a\\b', 'nul\u0000', 'tab\tname', 'x'.repeat(256)]) {
      expect(UploadFileName.safeParse(name).success).toBe(false);
    }
  });

  it('expires an unfinished upload once (its bytes count no longer); a finished one is left alone', () => {
    const expired: UploadEvent = {
      type: 'UploadExpired',
      data: { uploadId: id(1), tenantId, idleSince: at, at },
    };
    spec
      .given([started(1, 600)])
      .when({ type: 'ExpireUpload', tenantId, uploadId: id(1), idleSince: at, at })
      .thenEvents([expired]);
    spec
      .given([started(1, 600), expired])
      .when({ type: 'ExpireUpload', tenantId, uploadId: id(1), idleSince: at, at })
      .thenEvents([]);
    spec
      .given([started(1, 600), expired])
      .when({ type: 'CompleteUpload', tenantId, uploadId: id(1), path: '/p', at })
      .thenFails('CONFLICT');
    spec
      .given([
        started(1, 10),
        { type: 'UploadCompleted', data: { uploadId: id(1), tenantId, path: '/p', at } },
      ])
      .when({ type: 'ExpireUpload', tenantId, uploadId: id(1), idleSince: at, at })
      .thenEvents([]);
    spec
      .given([started(1, 600), expired])
      .when(start(2, 1000, 1000))
      .thenEvents([started(2, 1000)]);
  });

  it('accepts relative paths in a workspace and refuses absolute ones, "..", empty segments and control characters', () => {
    for (const path of ['a.csv', 'datasets/2026/a.csv', '.config/x', 'ä/b c']) {
      expect(WorkspaceFilePath.safeParse(path).success).toBe(true);
    }
    for (const path of ['', '/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', 'a/', 'nul\u0000', 'a\\b']) {
      expect(WorkspaceFilePath.safeParse(path).success).toBe(false);
    }
  });
});
