import type { Kysely } from 'kysely';
import { isDomainError } from '../../commands/kernel/index.ts';
import {
  buildOptions,
  findAgent,
  findImage,
  type ImageRecord,
  localRefOf,
  recordImageBuildFailed,
  recordImageBuilt,
  startImageBuild,
} from '../../commands/workspaces/index.ts';
import type { Database } from '../../db/database.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { loadingCache } from '../../runtime/cache.ts';
import { outputWriter, type ToolOutputTables } from '../../tools/index.ts';
import { type AgentKeys, agentClient } from '../../workspaces/index.ts';
import {
  type CancelWatch,
  cancelNotices,
  enqueue,
  JobRunner,
  type JobTables,
  jobQueueOf,
  type ProcessLogger,
  viewAs,
  wakeOnJobs,
} from '../runtime/index.ts';

/**
 * Where a cancel of a running build is announced (`<schema>:<image id>`): the worker building it
 * hears it at once, instead of folding the tenant's whole images stream every second to look.
 */
export const IMAGE_CANCEL_CHANNEL = 'warden_image_cancel';

/** The queue image builds wait in, spread over every worker. */
export const IMAGES_QUEUE = 'images';
/** The build output kept per image: beyond it one `truncated` frame, the rest dropped. */
export const IMAGE_OUTPUT_CAP_BYTES = 1024 * 1024;

/**
 * What an image build's job carries: the image (its record names the staged context) and its agent,
 * so the worker looks the agent up while it records the start (jobs queued before it carried only
 * the image: their agent is looked up after the start).
 */
export interface ImageJobPayload {
  imageId: string;
  agentId?: string;
}

/** Queues an image's build (once per image: its id is the job's) and wakes the image runners. */
export async function queueImageBuild(
  db: Kysely<JobTables>,
  input: { imageId: string; agentId: string; tenantId: string; streamId: string },
): Promise<void> {
  const payload: ImageJobPayload = { imageId: input.imageId, agentId: input.agentId };
  await enqueue(db, [
    {
      id: input.imageId,
      queue: IMAGES_QUEUE,
      kind: 'build',
      tenantId: input.tenantId,
      subject: input.streamId,
      payload,
    },
  ]);
}

export interface ImageBuildDeps {
  store: EventStore;
  db: Kysely<ToolOutputTables>;
  keys: Pick<AgentKeys, 'get'>;
  clock: () => Date;
  logger: ProcessLogger;
  /** This worker's id, recorded on the start. */
  worker: string;
  /**
   * How often a running build looks whether it was cancelled, for a cancel announced while this
   * worker was not listening (its listening connection re-opening): a slow safety net.
   */
  cancelPollMs: number;
  /** Calls `onCancel` when a cancel of the image is announced; returns the unsubscribe. */
  watchCancel: CancelWatch;
}

export interface ImageBuildJobs {
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts this worker's image builder: claims builds from the `images` queue (a few at once) and
 * runs each on its agent. A build whose worker died is claimed again once its lease lapses, and
 * then recorded failed (`interrupted`) instead of being built a second time.
 */
export function startImageBuildJobs(options: {
  database: Database;
  store: EventStore;
  keys: Pick<AgentKeys, 'get'>;
  owner: string;
  logger: ProcessLogger;
  concurrency?: number;
  clock?: () => Date;
  leaseMs?: number;
  pollMs?: number;
  cancelPollMs?: number;
}): ImageBuildJobs {
  const db = options.database.background;
  const clock = options.clock ?? (() => new Date());
  // Opening a sealed key costs a query and a decryption on every build (~0.1 s measured on a busy
  // host): kept a while. A key re-enrolled meanwhile fails the builds of that while (401), reported.
  const opened = loadingCache<string, { key: string }>({
    max: 1000,
    ttlMs: 30_000,
    clock,
    load: async (agentId) => {
      const key = await options.keys.get(agentId);
      if (key === undefined) throw new Error('no key');
      return { key };
    },
  });
  const schema = options.database.schema;
  const cancels = cancelNotices(schema);
  const deps: ImageBuildDeps = {
    store: options.store,
    db: viewAs<ToolOutputTables>(db),
    keys: { get: async (agentId) => (await opened.fetch(agentId).catch(() => undefined))?.key },
    clock,
    logger: options.logger,
    worker: options.owner,
    cancelPollMs: options.cancelPollMs ?? 15_000,
    watchCancel: cancels.watch,
  };
  const runner = new JobRunner({
    db: jobQueueOf(options.database),
    queue: IMAGES_QUEUE,
    owner: options.owner,
    concurrency: options.concurrency ?? 2,
    maxAttempts: 3,
    ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
    ...(options.pollMs ? { pollMs: options.pollMs } : {}),
    logger: options.logger,
    run: (job, signal) => runImageBuild(deps, job.tenantId ?? '', job.payload as ImageJobPayload, signal),
    giveUp: async (job, error) => {
      const payload = job.payload as ImageJobPayload;
      if (!job.tenantId) return;
      await recordImageBuildFailed(
        deps.store,
        {
          tenantId: job.tenantId,
          imageId: payload.imageId,
          reason: `the build could not be recorded: ${error.message}`,
          at: deps.clock().toISOString(),
        },
        { metadata: { tenantId: job.tenantId, actorId: `worker:${deps.worker}` } },
      );
    },
  });
  runner.start();
  const listening = wakeOnJobs(options.database, { [IMAGES_QUEUE]: runner }, options.logger, [
    [IMAGE_CANCEL_CHANNEL, cancels.hear],
  ]);
  return {
    stop: async (graceMs) => {
      await (await listening)();
      await runner.stop(graceMs);
    },
  };
}

/**
 * Runs one build, once: records the start (a start of a build already started means the worker that
 * had it died: recorded failed, `interrupted`, never built twice), calls its agent with the staged
 * context, writes the output as frames keyed by the image id, and records how it ended. A cancel
 * (announced on IMAGE_CANCEL_CHANNEL) or the worker stopping aborts the call, which stops the agent's
 * build.
 *
 * The start is recorded first, not after a read of the image: the command reads the stream anyway,
 * and its state is the image as started (a read before it cost a round trip on every build). Cancels
 * are heard from before it, so none announced after the start is missed and no read is needed to
 * look for one.
 */
export async function runImageBuild(
  deps: ImageBuildDeps,
  tenantId: string,
  payload: ImageJobPayload,
  jobSignal: AbortSignal,
): Promise<void> {
  const at = () => deps.clock().toISOString();
  const { imageId } = payload;
  const context = { metadata: { tenantId, actorId: `worker:${deps.worker}`, correlationId: imageId } };
  const clientOfAgent = async (agentId: string) => {
    const agent = await findAgent(deps.store, tenantId, agentId);
    const key = agent ? await deps.keys.get(agentId) : undefined;
    return agent && key ? agentClient({ url: agent.state.url, key }) : undefined;
  };
  // The agent and its key are looked up while the start is recorded, when the job names the agent;
  // the image's own record decides which agent builds it (the job's is the same one).
  const early = payload.agentId === undefined ? undefined : clientOfAgent(payload.agentId);
  // Awaited on every path that uses it; this only keeps a failure on a path that does not unreported.
  void early?.catch(() => undefined);
  const clientOf = (agentId: string) =>
    early && agentId === payload.agentId ? early : clientOfAgent(agentId);
  const cancel = new AbortController();
  const unwatch = deps.watchCancel(imageId, () => cancel.abort());
  const output = outputWriter(deps.db, imageId, { capBytes: IMAGE_OUTPUT_CAP_BYTES });
  const dropContext = async (image: ImageRecord | undefined) => {
    if (!image?.contextId) return;
    const client = await clientOf(image.agentId);
    if (client) await client.removeContext(image.contextId).catch(() => false);
  };
  const fail = async (reason: string, status = 'failed') => {
    const failed = await recordImageBuildFailed(deps.store, { tenantId, imageId, reason, at: at() }, context);
    if (failed.events.length > 0) await output.status(status, { reason });
  };
  try {
    let image: ImageRecord | undefined;
    try {
      const started = await startImageBuild(
        deps.store,
        { tenantId, imageId, worker: deps.worker, at: at() },
        context,
      );
      image = started.state.images[imageId];
      if (!image) return;
      if (started.events.length === 0) {
        // Cancelled after a worker started it that then died before seeing the cancel: nobody wrote
        // the final frame yet (cancelled while queued, the cancel wrote it; otherwise it is over).
        if (image.status === 'cancelled' && image.startedBy !== undefined) await output.status('cancelled');
        return await dropContext(image);
      }
    } catch (error) {
      // An image the stream does not hold (a job without its image): nothing to build.
      if (isDomainError(error) && error.code === 'NOT_FOUND') return;
      if (!isDomainError(error) || error.detail.rule !== 'already_started') throw error;
      const found = await findImage(deps.store, tenantId, imageId);
      await fail(
        `interrupted: its worker (${found?.startedBy ?? 'unknown'}) stopped mid-build; not built again`,
      );
      return await dropContext(found);
    }
    const client = await clientOf(image.agentId);
    if (!client || !image.contextId || !image.contextSha256) {
      return await fail(!client ? 'the agent is gone or has no key' : 'the build context was never staged');
    }
    // Queued, not awaited: it goes out ahead of the build's first line, and the agent's build starts
    // one round trip sooner (as the tool runner queues its `running` frame).
    output.queueStatus('running');
    await build(deps, { tenantId, image, client, output, jobSignal, cancel: cancel.signal, fail, context });
  } finally {
    unwatch();
    await output.close().catch(() => undefined);
  }
}

async function build(
  deps: ImageBuildDeps,
  run: {
    tenantId: string;
    image: ImageRecord;
    client: ReturnType<typeof agentClient>;
    output: ReturnType<typeof outputWriter>;
    jobSignal: AbortSignal;
    /** Aborted when a cancel of this image is announced (heard from before its start was recorded). */
    cancel: AbortSignal;
    fail: (reason: string, status?: string) => Promise<void>;
    context: { metadata: { tenantId: string; actorId: string; correlationId: string } };
  },
) {
  const { image, output } = run;
  const abort = new AbortController();
  let why: 'cancel' | 'worker' | undefined;
  const stop = (reason: NonNullable<typeof why>) => {
    why ??= reason;
    abort.abort(new Error(`build stopped: ${reason}`));
  };
  const onJobAbort = () => stop('worker');
  run.jobSignal.addEventListener('abort', onJobAbort, { once: true });
  const onCancel = () => stop('cancel');
  if (run.cancel.aborted) onCancel();
  else run.cancel.addEventListener('abort', onCancel, { once: true });
  // For a cancel announced while this worker's listening connection re-opened: rarely.
  const poll = setInterval(
    () =>
      findImage(deps.store, run.tenantId, image.imageId)
        .then((now) => {
          if (now?.status !== 'building') stop('cancel');
        })
        .catch(() => undefined),
    deps.cancelPollMs,
  );
  let built: { id: string } | undefined;
  let reason: string | undefined;
  try {
    built = await run.client.buildImage(
      {
        context: image.contextId ?? '',
        sha256: image.contextSha256 ?? '',
        tag: localRefOf(image),
        dockerfile: image.dockerfile,
        ...buildOptions(image),
      },
      (line) => output.sink.write('stdout', line),
      abort.signal,
    );
  } catch (error) {
    reason = error instanceof Error ? error.message : 'the build failed';
  } finally {
    clearInterval(poll);
    run.cancel.removeEventListener('abort', onCancel);
    run.jobSignal.removeEventListener('abort', onJobAbort);
  }
  const at = deps.clock().toISOString();
  if (why === 'cancel') {
    output.sink.write('stderr', 'the build was cancelled\n');
    await output.status('cancelled');
    return;
  }
  if (why === 'worker') {
    output.sink.write('stderr', 'the worker stopped mid-build\n');
    return run.fail('interrupted: the worker stopped mid-build', 'interrupted');
  }
  if (built) {
    const recorded = await recordImageBuilt(
      deps.store,
      { tenantId: run.tenantId, imageId: image.imageId, dockerId: built.id, at },
      run.context,
    );
    if (recorded.events.length > 0) {
      await output.status('completed', { image_id: built.id });
      return;
    }
    // Cancelled as it finished: the image is not the catalog's, so it does not stay on the agent.
    await run.client.removeImage(localRefOf(image)).catch(() => false);
    await output.status('cancelled');
    return;
  }
  output.sink.write('stderr', `${reason}\n`);
  await run.fail(reason ?? 'the build failed');
}
