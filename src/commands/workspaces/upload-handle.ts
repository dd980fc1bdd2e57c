import {
  type CommandContext,
  type CommandResult,
  type CommandStore,
  isWrongExpectedRevision,
  preconditionFailed,
  toNewEvents,
} from '../kernel/index.ts';
import type { UploadEvent } from './events.ts';
import { uploadsStreamId } from './events.ts';
import { type UploadRecord, type UploadsCommand, type UploadsState, uploadsDecider } from './uploads.ts';

/** Concurrent uploads of one tenant all append to its uploads stream: each retries until it decides. */
const UPLOAD_ATTEMPTS = 100;
/** Tenants whose folded uploads stream a process keeps (the least recently used goes first). */
const CACHED_TENANTS = 1000;
const PAGE = 5000;

type Input<T extends UploadsCommand['type']> = Omit<Extract<UploadsCommand, { type: T }>, 'type'>;

interface Folded {
  state: UploadsState;
  /** Revision of the last event folded in (-1: none). */
  revision: number;
  position: bigint;
}

/**
 * The folded uploads streams of a store, by tenant. A tenant's stream grows with every upload it ever
 * made, and every PATCH reads its upload: folding the whole stream each time would make a PATCH cost
 * the tenant's history. Instead each read starts after the revision folded last and folds only the
 * events since (none, usually), so a read costs O(new events). Still correct with other processes
 * appending: the store is always asked, only from further on. States are immutable (the decider's
 * `evolve` copies), so a cached one is never changed under a reader.
 */
const caches = new WeakMap<CommandStore, Map<string, Folded>>();

function cacheOf(store: CommandStore): Map<string, Folded> {
  let cache = caches.get(store);
  if (!cache) {
    cache = new Map();
    caches.set(store, cache);
  }
  return cache;
}

function remember(cache: Map<string, Folded>, tenantId: string, folded: Folded) {
  const known = cache.get(tenantId);
  // A concurrent reader may have folded further already: keep the newer.
  if (known && known.revision > folded.revision) return known;
  cache.delete(tenantId);
  cache.set(tenantId, folded);
  if (cache.size > CACHED_TENANTS) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  return folded;
}

/** The tenant's uploads, folded up to the stream's current end (reading only what was not folded yet). */
export async function loadUploads(store: CommandStore, tenantId: string): Promise<Folded> {
  const cache = cacheOf(store);
  const streamId = uploadsStreamId(tenantId);
  let folded = cache.get(tenantId) ?? { state: uploadsDecider.initialState(), revision: -1, position: 0n };
  for (;;) {
    const page = await store.readStream(streamId, { from: folded.revision + 1, limit: PAGE });
    let { state, revision, position } = folded;
    for (const event of page) {
      // cast: a stored event of this stream is an upload event (the store keeps no types).
      state = uploadsDecider.evolve(state, event as unknown as UploadEvent);
      revision = event.revision;
      position = event.position;
    }
    folded = { state, revision, position };
    if (page.length < PAGE) break;
  }
  return remember(cache, tenantId, folded);
}

/**
 * Runs one command on its tenant's uploads stream: the kernel's load → decide → append with the
 * expected revision, loading through the cache. A concurrent writer's append makes ours fail on the
 * revision; the retry folds the events since and decides again.
 */
async function onUploads(
  store: CommandStore,
  command: UploadsCommand,
  context: CommandContext,
): Promise<CommandResult<UploadsState>> {
  const streamId = uploadsStreamId(command.tenantId);
  const maxAttempts = context.maxAttempts ?? UPLOAD_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    const loaded = await loadUploads(store, command.tenantId);
    if (context.expectedRevision !== undefined && context.expectedRevision !== loaded.revision) {
      throw preconditionFailed(loaded.revision);
    }
    const events = uploadsDecider.decide(command, loaded.state);
    if (events.length === 0) return { ...loaded, events };
    try {
      const result = await store.append(streamId, await toNewEvents(events, context), {
        expected: loaded.revision < 0 ? 'no_stream' : loaded.revision,
      });
      // The new events directly follow the folded ones: fold them in without reading them back.
      const state = events.reduce(uploadsDecider.evolve, loaded.state);
      remember(cacheOf(store), command.tenantId, { state, ...result });
      return { state, revision: result.revision, position: result.position, events };
    } catch (error) {
      if (!isWrongExpectedRevision(error)) throw error;
      if (context.expectedRevision !== undefined) {
        throw preconditionFailed(typeof error.actual === 'number' ? error.actual : -1);
      }
      if (attempt >= maxAttempts) throw error;
    }
  }
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
