import { Readable } from 'node:stream';
import { DataStore, ERRORS, Upload } from '@tus/server';
import type { AgentUploads } from '../client/agent-uploads.ts';

/** An upload as Warden recorded it (the `UploadStarted` event), enough to answer the tus protocol. */
export interface RecordedUpload {
  uploadId: string;
  fileName: string;
  size: number;
  sha256: string;
  startedAt: string;
  /** True once every byte arrived and the SHA-256 matched: the agent no longer has a partial file. */
  completed: boolean;
}

/**
 * A tus data store whose bytes live on an agent: each PATCH body streams through to the agent's store
 * (`PATCH /v1/store/uploads/{id}` at the offset), so Warden never holds more than the chunk in flight,
 * and the offset a HEAD answers is the agent's (what reached its disk), so an interrupted upload resumes
 * exactly where its bytes end. The upload's declaration comes from Warden's events; the agent was told
 * it (signed) when the upload started.
 */
export class AgentDataStore extends DataStore {
  constructor(
    private readonly agent: AgentUploads,
    private readonly recorded: RecordedUpload | undefined,
  ) {
    super();
    this.extensions = ['creation', 'creation-with-upload', 'termination'];
  }

  override async create(upload: Upload): Promise<Upload> {
    return upload;
  }

  override async write(stream: Readable, id: string, offset: number): Promise<number> {
    return this.agent.append(id, offset, Readable.toWeb(stream) as ReadableStream<Uint8Array>);
  }

  override async getUpload(id: string): Promise<Upload> {
    const recorded = this.recorded;
    if (!recorded || recorded.uploadId !== id) throw ERRORS.FILE_NOT_FOUND;
    const metadata = { filename: recorded.fileName, sha256: recorded.sha256 };
    if (recorded.completed) {
      return new Upload({
        id,
        size: recorded.size,
        offset: recorded.size,
        metadata,
        creation_date: recorded.startedAt,
      });
    }
    const progress = await this.agent.progress(id);
    if (!progress) throw ERRORS.FILE_NOT_FOUND;
    return new Upload({
      id,
      size: recorded.size,
      offset: progress.offset,
      metadata,
      creation_date: recorded.startedAt,
    });
  }

  override async remove(id: string): Promise<void> {
    await this.agent.remove(id);
  }
}
