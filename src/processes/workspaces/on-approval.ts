import type { IdentityEvent } from '../../commands/identity/index.ts';
import { isDomainError, load } from '../../commands/kernel/index.ts';
import { plans, tenantDecider, tenantStreamId } from '../../commands/tenancy/index.ts';
import {
  quotaDecider,
  quotaStreamId,
  settingsStreamId,
  workspaceDecider,
  workspaceSettingsDecider,
  workspaceStreamId,
} from '../../commands/workspaces/index.ts';
import type { RecordedEvent } from '../../eventstore/port.ts';
import { defineProcessManager, type ProcessContext } from '../runtime/index.ts';

const NAME = 'workspaceOnApproval';

type UserApproved = Extract<IdentityEvent, { type: 'UserApproved' }>;

async function refuse(ctx: ProcessContext, tenantId: string, userId: string, reason: string, at: string) {
  ctx.logger.info({ tenantId, userId, reason }, 'no workspace on approval');
  await ctx.issue(settingsStreamId(tenantId), workspaceSettingsDecider, {
    type: 'RecordWorkspaceOnApprovalRefused',
    tenantId,
    userId,
    reason,
    at,
  });
}

/**
 * "Workspace on approval": when the tenant's setting is on, approving a pending user requests their
 * workspace with the setting's image and resources, and the provisioning process takes it from there.
 * The workspace id derives from the approval event, and the quota claim and the request are both
 * idempotent, so re-handling the event (crash, retry) makes no second workspace. A refusal (quota
 * full, the user already has one) is recorded on the settings stream with its reason, never dropped.
 * Only approval triggers it: an admin who adds a user directly requests the workspace in the same
 * breath if they want one (as in Coder, where creating a user never creates a workspace).
 */
export const workspaceOnApproval = defineProcessManager<unknown, UserApproved>({
  name: NAME,
  types: ['UserApproved'],
  // Approvals before the setting existed are history: they never provisioned and do not start to.
  startFrom: 'now',
  async handle(event: RecordedEvent & UserApproved, ctx) {
    const { tenantId, userId, at } = event.data;
    const settings = (await load(ctx.store, settingsStreamId(tenantId), workspaceSettingsDecider)).state
      .onApproval;
    if (!settings.enabled || settings.image === null) return;
    const tenant = (await load(ctx.store, tenantStreamId(tenantId), tenantDecider)).state;
    const workspaceId = await ctx.id('workspace');
    try {
      await ctx.issue(
        quotaStreamId(tenantId),
        quotaDecider,
        {
          type: 'ClaimWorkspaceSlot',
          tenantId,
          workspaceId,
          userId,
          limit: plans[tenant.plan].workspaces,
          at,
        },
        { maxAttempts: 100 },
      );
    } catch (error) {
      if (!isDomainError(error)) throw error;
      return refuse(ctx, tenantId, userId, error.message, at);
    }
    const existing = await load(ctx.store, workspaceStreamId(workspaceId), workspaceDecider);
    if (existing.state.exists) return;
    await ctx.issue(workspaceStreamId(workspaceId), workspaceDecider, {
      type: 'RequestWorkspace',
      workspaceId,
      tenantId,
      userId,
      image: settings.image,
      resources: settings.resources,
      agentId: null,
      ports: settings.ports,
      at,
      by: `process:${NAME}`,
    });
  },
});
