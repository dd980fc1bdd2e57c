import {
  type CommandContext,
  type CommandStore,
  isDomainError,
  ruleViolated,
} from '../../commands/kernel/index.ts';
import { localRefOf, requestImageBuild, tenantImages } from '../../commands/workspaces/index.ts';
import type { AgentClient } from '../../workspaces/index.ts';

type BuildRequest = Omit<Parameters<typeof requestImageBuild>[1], 'goneFromAgent'>;

/**
 * Records the build; when the catalog refuses the tag (`tag_in_use`) because an image of it is
 * `built` on this agent, asks the agent whether it still holds the tag and, when its engine answers
 * it does not, records that image lost and the build taken, in one decision. The agent is asked
 * only after the refusal saw the image built, so an answer given before a concurrent build of the
 * tag finished can never count: a build under way stays a refusal, and so does an agent that does
 * not answer (the refusal then says it could not be asked).
 */
export async function requestBuildOverLost(
  store: CommandStore,
  agent: { name: string; client: Pick<AgentClient, 'holdsImage'> },
  request: BuildRequest,
  context: CommandContext,
): ReturnType<typeof requestImageBuild> {
  try {
    return await requestImageBuild(store, request, context);
  } catch (error) {
    if (!isDomainError(error) || error.detail.rule !== 'tag_in_use') throw error;
    const { images } = await tenantImages(store, request.tenantId);
    const built = Object.values(images).filter(
      (image) =>
        image.agentId === request.agentId &&
        image.name === request.name &&
        image.tag === request.tag &&
        image.status === 'built',
    );
    if (built.length === 0) throw error;
    const ref = localRefOf(request);
    let holds: boolean;
    try {
      holds = await agent.client.holdsImage(ref);
    } catch {
      throw ruleViolated(
        'tag_in_use',
        `${ref} is built on this agent (image ${built.map((i) => i.imageId).join(', ')}) and the agent ${agent.name} could not be asked whether it still holds it: try again once it answers`,
      );
    }
    if (holds) throw error;
    return requestImageBuild(
      store,
      { ...request, goneFromAgent: built.map((image) => image.imageId) },
      context,
    );
  }
}
