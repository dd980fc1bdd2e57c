import type { IdentityEvent } from '../../commands/identity/index.ts';
import { findUser } from '../../commands/identity/index.ts';
import { type ProjectEvent, projectDecider, projectStreamId } from '../../commands/tracker/index.ts';
import { defineProcessManager, type ProcessContext } from '../runtime/index.ts';

export interface ProjectMembersTable {
  project_id: string;
  tenant_id: string;
  user_id: string;
}
export type ProjectMembershipsTables = { warden_tracker_project_members: ProjectMembersTable };

type Ctx = ProcessContext<ProjectMembershipsTables>;
const NAME = 'projectMemberships';

/** Through the project's own command: `ProjectMemberRemoved { reason: 'member_left_tenant' }`, once. */
async function removeLeft(ctx: Ctx, projectId: string, userId: string, at: string) {
  await ctx.issue(
    projectStreamId(projectId),
    projectDecider,
    { type: 'RemoveLeftMember', userId, by: `process:${NAME}`, at },
    { key: `${projectId}:${userId}` },
  );
}

/** The member still belongs to the tenant? If not (removed before or while being added), take them off. */
async function checkMember(ctx: Ctx, tenantId: string, projectId: string, userId: string, at: string) {
  await ctx.db
    .insertInto('warden_tracker_project_members')
    .values({ project_id: projectId, tenant_id: tenantId, user_id: userId })
    .onConflict((oc) => oc.columns(['project_id', 'user_id']).doNothing())
    .execute();
  if (!(await findUser(ctx.store, tenantId, userId))) await removeLeft(ctx, projectId, userId, at);
}

/**
 * When a user leaves a tenant (identity's `UserRemoved`, or `UserRejected` of a pending user who had
 * been added), they are taken off every project of the tenant through the project's own command, so
 * each project records `ProjectMemberRemoved { reason: 'member_left_tenant' }`. It keeps its own index
 * (project → members) in its handling transactions, exact at every handled event. Exactly once: the
 * command's id derives from the causing event, and the project decides nothing for a user who is no
 * longer a member, so a redelivery or a restart appends nothing more. Membership and removal live in
 * different streams, so either may be handled first: adding someone already gone is undone when the
 * addition is handled (which also cleans up, on its first run, memberships of users removed before
 * this process existed).
 */
export const projectMemberships = defineProcessManager<
  ProjectMembershipsTables,
  ProjectEvent | IdentityEvent
>({
  name: NAME,
  types: ['UserRemoved', 'UserRejected', 'ProjectCreated', 'ProjectMemberAdded', 'ProjectMemberRemoved'],
  async handle(event, ctx) {
    switch (event.type) {
      case 'UserRemoved':
      case 'UserRejected': {
        const rows = await ctx.db
          .selectFrom('warden_tracker_project_members')
          .select('project_id')
          .where('tenant_id', '=', event.data.tenantId)
          .where('user_id', '=', event.data.userId)
          .orderBy('project_id')
          .execute();
        for (const row of rows) await removeLeft(ctx, row.project_id, event.data.userId, event.data.at);
        return;
      }
      case 'ProjectCreated':
        await checkMember(ctx, event.data.tenantId, event.data.projectId, event.data.leadId, event.data.at);
        return;
      case 'ProjectMemberAdded':
        await checkMember(ctx, event.data.tenantId, event.data.projectId, event.data.userId, event.data.at);
        return;
      case 'ProjectMemberRemoved':
        await ctx.db
          .deleteFrom('warden_tracker_project_members')
          .where('project_id', '=', event.data.projectId)
          .where('user_id', '=', event.data.userId)
          .execute();
        return;
      default:
        return;
    }
  },
});
