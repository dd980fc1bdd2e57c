import { Agent, request } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DataStore, ERRORS, Upload } from '@tus/server';
import type { AgentUploads } from '../client/agent-uploads.ts';

/**
 * How many bytes of a PATCH body may wait in Warden for the agent's connection before the client's is
 * paused. At Node's default (16 KiB, less than one 64 KiB read from the client's socket) every read
 * paused the client's socket and waited a turn of the event loop for its write to drain; with room
 * for a few reads, a turn reads what has arrived and writes it in one `writev`. A slow agent still
 * pauses the client, at this bound (see the frozen-agent test).
 */
const RELAY_BUFFER_BYTES = 1024 * 1024;

/**
 * The connections appends go out on: kept alive as by Node's global agent (which they used before),
 * and since an agent hands its options to every socket it makes, each one (reused too) has the
 * relay's buffer.
 */
const connectionOptions = {
  keepAlive: true,
  scheduling: 'lifo' as const,
  timeout: 5_000,
  // Handed on to each socket, though `AgentOptions` does not name it: hence not an inline literal.
  writableHighWaterMark: RELAY_BUFFER_BYTES,
};
const appendConnections = new Agent(connectionOptions);

/** An upload as Warden recorded it (the `UploadStarted` event), enough to answer the tus protocol. */
export interface RecordedUpload {
  uploadId: string;
  fileName: string;
  size: number;
  sha256: string;
  startedAt: string;
  /** True once every byte arrived and the SHA-256 matched: the agent no longer has a partial file. */
  completed: boolean;
  /**
   * The agent's progress as this request already knows it (the creation's open has just answered
   * it): the library's look at the upload before its first write then asks the agent nothing.
   */
  opened?: { offset: number; updated_at?: string };
}

/**
 * A tus data store whose bytes live on an agent: each PATCH body streams through to the agent's store
 * (`PATCH /v1/store/uploads/{id}` at the offset), so Warden never holds more than the chunk in flight,
 * and the offset a HEAD answers is the agent's (what reached its disk), so an interrupted upload resumes
 * exactly where its bytes end. The upload's declaration comes from Warden's events; the agent was told
 * it (signed) when the upload started.
 */
export class AgentDataStore extends DataStore {
  /** The agent's progress while nothing has been written since it was learnt (see `opened`). */
  private known: RecordedUpload['opened'];

  /**
   * `source`: the PATCH body as the Node request itself, when the route could hand it over (the
   * library was then given the request without its body). Piped straight on to the agent it skips
   * the web-stream round trip (Node → web stream → Node, then the library's pass-through and
   * limiter: four stream hops and their promises per chunk) on the hot path; backpressure is Node's
   * own `pipeline`, so a slow agent slows the client down and nothing piles up here.
   * `sourceLength`: the source's Content-Length, when the client sent one (its body is not chunked).
   * `claimedOffset`: a PATCH's Upload-Offset. The agent checks it, and the expiry, as it appends (409,
   * 410), so a PATCH asks nothing of the agent first: one round trip fewer per PATCH, each a network
   * round trip to an agent on another host.
   */
  constructor(
    private readonly agent: AgentUploads,
    private readonly recorded: RecordedUpload | undefined,
    private readonly expiryMs = 0,
    private readonly source?: Readable,
    private readonly sourceLength?: number,
    private readonly claimedOffset?: number,
  ) {
    super();
    this.known = recorded?.opened;
    this.extensions = ['creation', 'creation-with-upload', 'termination'];
    if (expiryMs > 0) this.extensions.push('expiration');
  }

  /**
   * tus expiration: an unfinished upload expires `expiryMs` after its last progress. The library counts
   * from the upload's `creation_date`, so an unfinished upload is given the time its last byte reached
   * the agent there (the agent's partial file's modification time): HEAD and PATCH after that answer
   * 410 and `Upload-Expires` names the moment, even before the sweep records the expiry.
   */
  override getExpiration(): number {
    return this.expiryMs;
  }

  override async create(upload: Upload): Promise<Upload> {
    return upload;
  }

  /**
   * Pipes the PATCH body into a request to the agent (node:http: no web-stream conversion on the hot
   * path); a body that breaks off ends the agent's request too, which keeps what arrived.
   */
  override async write(stream: Readable, id: string, offset: number): Promise<number> {
    // The bytes beyond the declared size are refused by the agent (413), as the library's limiter would.
    this.known = undefined;
    const body = this.source ?? stream;
    if (this.source) stream.resume(); // the library's own (empty) stream, drained so its pipeline ends
    const { url, headers } = this.agent.appendRequest(id, offset, this.expiryMs);
    // The client's Content-Length goes on with its bytes (Node's parser held the body to it). Chunked,
    // the agent's parser cut its reads at every chunk's frame: twice the pieces (32 KiB on average
    // instead of 64) through its web stream and its hash, and about a third more of its CPU.
    const outgoing = request(url, {
      method: 'PATCH',
      headers:
        this.sourceLength === undefined
          ? headers
          : { ...headers, 'content-length': String(this.sourceLength) },
      agent: appendConnections,
    });
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      outgoing.once('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        response.once('error', reject);
      });
      outgoing.once('error', reject);
    });
    // The agent may answer (a refusal) before the body is through: its answer is what counts then.
    const sent = pipeline(body, outgoing).catch((error: unknown) => error);
    const answer = await answered;
    const failed = await sent;
    if (failed && answer.status === 200) throw failed;
    return this.agent.appended(answer.status, answer.text);
  }

  override async getUpload(id: string): Promise<Upload> {
    const recorded = this.recorded;
    if (!recorded || recorded.uploadId !== id) throw ERRORS.FILE_NOT_FOUND;
    const metadata = { filename: recorded.fileName, sha256: recorded.sha256 };
    // A finished upload never expires: no date to count from.
    if (recorded.completed) return new Upload({ id, size: recorded.size, offset: recorded.size, metadata });
    if (this.claimedOffset !== undefined && this.known === undefined) {
      // A PATCH: where the client says the upload is, and as fresh as now; the append refuses either
      // when it is not so (see `claimedOffset`).
      return new Upload({
        id,
        size: recorded.size,
        offset: this.claimedOffset,
        metadata,
        creation_date: new Date().toISOString(),
      });
    }
    const progress = this.known ?? (await this.agent.progress(id));
    if (!progress) throw ERRORS.FILE_NOT_FOUND;
    return new Upload({
      id,
      size: recorded.size,
      offset: progress.offset,
      metadata,
      creation_date: progress.updated_at ?? recorded.startedAt,
    });
  }

  override async remove(id: string): Promise<void> {
    await this.agent.remove(id);
  }
}
