import type { Kysely } from 'kysely';
import { notFound } from '../../commands/kernel/index.ts';
import { findAgent, findImage } from '../../commands/workspaces/index.ts';
import type { Logger } from '../../logger.ts';
import { readFrames, type StreamHub, type ToolOutputTables } from '../../tools/index.ts';
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

/**
 * What the catalog's routes share: the output frames (builds' and pushes'), an image the tenant can
 * see (404 otherwise, deleted ones too) and a client of one of its agents.
 */
export function imageAccess(deps: ImageCatalogDeps) {
  const output = readTables<ToolOutputTables>(deps.db);

  const visible = async (tenantId: string, imageId: string) => {
    const image = await findImage(deps.store, tenantId, imageId);
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
  return { output, visible, clientOf };
}

export type ImageAccess = ReturnType<typeof imageAccess>;

/** The text of a run's stdout and stderr frames. */
export async function textOf(db: Kysely<ToolOutputTables>, key: string): Promise<string> {
  const parts: string[] = [];
  for (let after = 0; ; ) {
    const page = await readFrames(db, key, after, 1000);
    for (const f of page) if (f.kind === 'stdout' || f.kind === 'stderr') parts.push(f.data);
    if (page.length < 1000) break;
    after = page[page.length - 1]!.seq;
  }
  return parts.join('');
}
