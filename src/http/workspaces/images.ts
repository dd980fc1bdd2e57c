import type { Context } from 'hono';
import { invalid } from '../../commands/kernel/index.ts';
import { findAgent, tenantImages } from '../../commands/workspaces/index.ts';
import { listAgents, type WorkspacesReadTables } from '../../projections/workspaces/index.ts';
import { agentClient } from '../../workspaces/index.ts';
import { RequestError, readTables } from '../kit/index.ts';
import type { WorkspacesDeps } from './context.ts';

type Asked = { name: string; answer: 'has' | 'lacks' | 'unreachable' };

/**
 * Refuses, at request time, an image no agent that could run the workspace holds: the chosen agent,
 * or else any agent of the tenant. An image of the tenant's catalog pushed to its registry passes
 * (the agent pulls it). 422 on `field` naming the image and the agents asked; 503 when
 * the agents that might have it did not answer. An agent that holds it is enough.
 */
export async function requireKnownImage(
  c: Context,
  deps: WorkspacesDeps,
  tenantId: string,
  image: string,
  field: string,
  agentId: string | null,
): Promise<void> {
  // An image the tenant pushed to its registry: any agent pulls it when it creates the container.
  const { images } = await tenantImages(deps.store, tenantId);
  if (Object.values(images).some((i) => i.status !== 'deleted' && i.pushes.some((p) => p.ref === image)))
    return;
  let agents: Array<{ id: string; name: string; url: string }>;
  if (agentId !== null) {
    const found = await findAgent(deps.store, tenantId, agentId);
    // An unknown agent is answered by the request itself (404 naming it).
    if (!found) return;
    agents = [{ id: found.state.agentId, name: found.state.name, url: found.state.url }];
  } else {
    // The tenant's agents come from a read model: an agent registered a moment ago must count.
    await deps.readModels.caughtUp(c, ['workspaceAgentList']);
    agents = await listAgents(readTables<WorkspacesReadTables>(deps.db), tenantId);
  }
  if (agents.length === 0) {
    throw invalid([
      { path: field, message: `no agent is registered in this tenant to run the image ${image}` },
    ]);
  }
  const asked = await Promise.all(
    agents.map(async (agent): Promise<Asked> => {
      const key = await deps.keys.get(agent.id);
      if (!key) return { name: agent.name, answer: 'unreachable' };
      try {
        const found = await agentClient({ url: agent.url, key, timeoutMs: 5_000 }).image(image);
        return { name: agent.name, answer: found ? 'has' : 'lacks' };
      } catch {
        return { name: agent.name, answer: 'unreachable' };
      }
    }),
  );
  if (asked.some((a) => a.answer === 'has')) return;
  const silent = asked.filter((a) => a.answer === 'unreachable').map((a) => a.name);
  if (silent.length > 0) {
    throw new RequestError(
      503,
      'agent-unavailable',
      `cannot check the image ${image}: the agent(s) ${silent.join(', ')} did not answer`,
    );
  }
  throw invalid([
    {
      path: field,
      message: `unknown image ${image}: the agent(s) ${asked.map((a) => a.name).join(', ')} do not have it`,
    },
  ]);
}
