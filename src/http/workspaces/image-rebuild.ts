import {
  type CommandContext,
  type CommandStore,
  isDomainError,
  ruleViolated,
} from '../../commands/kernel/index.ts';
import { localRefOf, requestImageBuild } from '../../commands/workspaces/index.ts';
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
    // The refusal names the built images holding the tag (none while a build of it is under way).
    const built = error.detail.holders ?? [];
    if (built.length === 0) throw error;
    const ref = localRefOf(request);
    let holds: boolean;
    try {
      holds = await agent.client.holdsImage(ref);
    } catch {
      throw ruleViolated(
        'tag_in_use',
        `${ref} is built on this agent (image ${built.join(', ')}) and the agent ${agent.name} could not be asked whether it still holds it: try again once it answers`,
      );
    }
    if (holds) throw error;
    return requestImageBuild(store, { ...request, goneFromAgent: built }, context);
  }
}
