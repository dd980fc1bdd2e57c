import { notFound } from '../../commands/kernel/index.ts';
import {
  findAgent,
  type ImagesState,
  recordImagePushFailed,
  tenantImages,
} from '../../commands/workspaces/index.ts';
import type { Logger } from '../../logger.ts';
import { IMAGE_OUTPUT_CAP_BYTES } from '../../processes/workspaces/index.ts';
import { outputWriter, type StreamHub, type ToolOutputTables } from '../../tools/index.ts';
import { agentClient, type ImageRegistries } from '../../workspaces/index.ts';
import { RequestError, readTables } from '../kit/index.ts';
import type { WorkspacesDeps } from './context.ts';

/** The largest build context taken unless configured (`WARDEN_IMAGE_CONTEXT_MAX_BYTES`): 1 GiB. */
export const MAX_BUILD_CONTEXT_BYTES = 1024 * 1024 * 1024;

export interface ImageCatalogDeps extends WorkspacesDeps {
  registries: ImageRegistries;
  hub: StreamHub;
  logger?: Pick<Logger, 'error' | 'warn'>;
  /** The largest build context taken; {@link MAX_BUILD_CONTEXT_BYTES} when absent. */
  imageContextMaxBytes?: number;
}

/** Longest a push waits on its agent: the push's agent call times out then, and the push ends refused. */
export const PUSH_TIMEOUT_MS = 10 * 60_000;
/** A push started longer ago than this and not ended had its Warden process stop before its end. */
const PUSH_ABANDONED_MS = PUSH_TIMEOUT_MS + 60_000;
const PUSH_ABANDONED_REASON = 'interrupted: the Warden process pushing it stopped before the push ended';

/**
 * What the catalog's routes share: the output frames (builds' and pushes'), the tenant's catalog and
 * an image the tenant can see (404 otherwise, deleted ones too), both with abandoned pushes ended,
 * and a client of one of its agents.
 */
export function imageAccess(deps: ImageCatalogDeps) {
  const output = readTables<ToolOutputTables>(deps.db);

  /**
   * Ends the pushes whose Warden process stopped mid-push. A push ends itself (pushed, or refused when
   * its agent call times out after PUSH_TIMEOUT_MS), so one started longer ago than that (with a
   * minute's grace) and not ended never will: it is recorded refused as interrupted, and its output
   * gets the final frame a client following it waits for. Done as the catalog is read, like every
   * other expiry here (no sweep needed for correctness); a push ended meanwhile by anyone is left.
   */
  const endAbandonedPushes = async (tenantId: string, catalog: ImagesState): Promise<ImagesState> => {
    const now = deps.clock().getTime();
    const abandoned = Object.values(catalog.images).flatMap((image) =>
      image.status === 'deleted'
        ? []
        : (image.pushesInProgress ?? [])
            .filter((push) => now - Date.parse(push.at) > PUSH_ABANDONED_MS)
            .map((push) => ({ imageId: image.imageId, ...push })),
    );
    let current = catalog;
    for (const push of abandoned) {
      const result = await recordImagePushFailed(
        deps.store,
        { tenantId, ...push, reason: PUSH_ABANDONED_REASON, at: deps.clock().toISOString() },
        { metadata: { tenantId, actorId: 'process:push-expiry' } },
      );
      current = result.state;
      if (result.events.length === 0) continue;
      const log = outputWriter(output, push.pushId, { capBytes: IMAGE_OUTPUT_CAP_BYTES });
      log.sink.write('stderr', `${PUSH_ABANDONED_REASON}\n`);
      await log.status('failed', { reason: PUSH_ABANDONED_REASON });
      await log.close();
    }
    return current;
  };
  const catalogOf = async (tenantId: string) =>
    endAbandonedPushes(tenantId, await tenantImages(deps.store, tenantId));
  const visible = async (tenantId: string, imageId: string) => {
    const image = (await catalogOf(tenantId)).images[imageId];
    if (!image || image.status === 'deleted') throw notFound('image');
    return image;
  };
  const clientOf = async (tenantId: string, agentId: string, timeoutMs = 30_000) => {
    const agent = await findAgent(deps.store, tenantId, agentId);
    if (!agent) throw notFound('agent');
    const key = await deps.keys.get(agentId);
    if (!key) {
      throw new RequestError(503, 'agent-unavailable', `the agent ${agent.state.name} has no key on record`);
    }
    return { name: agent.state.name, client: agentClient({ url: agent.state.url, key, timeoutMs }) };
  };
  return { output, catalogOf, visible, clientOf };
}

export type ImageAccess = ReturnType<typeof imageAccess>;
