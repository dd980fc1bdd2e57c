import type { IdentityEvent } from '../../commands/identity/index.ts';
import { findUser } from '../../commands/identity/index.ts';
import { type IssueEvent, issueDecider, issueStreamId } from '../../commands/tracker/index.ts';
import { defineProcessManager, type ProcessContext } from '../runtime/index.ts';

export interface AssignmentsTable {
  issue_id: string;
  tenant_id: string;
  user_id: string;
}
export type IssueRulesTables = { warden_tracker_assignments: AssignmentsTable };

type Ctx = ProcessContext<IssueRulesTables>;
const NAME = 'issueRules';

async function unassign(ctx: Ctx, issueId: string, userId: string, at: string) {
  await ctx.issue(
    issueStreamId(issueId),
    issueDecider,
    { type: 'UnassignLeftUser', userId, by: `process:${NAME}`, at },
    { key: `${issueId}:${userId}` },
  );
}

/** The assignee still belongs to the tenant? If not (removed before or while assigning), unassign at once. */
async function checkAssignee(ctx: Ctx, tenantId: string, issueId: string, userId: string, at: string) {
  await ctx.db
    .insertInto('warden_tracker_assignments')
    .values({ issue_id: issueId, tenant_id: tenantId, user_id: userId })
    .onConflict((oc) => oc.column('issue_id').doUpdateSet({ user_id: userId }))
    .execute();
  if (!(await findUser(ctx.store, tenantId, userId))) await unassign(ctx, issueId, userId, at);
}

/**
 * When a user leaves a tenant (identity's `UserRemoved`), their open issues are unassigned, with
 * `IssueUnassigned { reason: 'assignee_left_tenant' }`; work in progress or review goes back to open.
 * It keeps its own assignment index (issue → user) in its handling transactions. An assignment and a
 * removal live in different streams, so either may be handled first: the removal unassigns what the
 * index holds, and an assignment (or a reopen) of someone already removed is undone when it is handled.
 */
export const issueRules = defineProcessManager<IssueRulesTables, IssueEvent | IdentityEvent>({
  name: NAME,
  types: ['UserRemoved', 'IssueCreated', 'IssueAssigned', 'IssueUnassigned', 'IssueStatusChanged'],
  async handle(event, ctx) {
    switch (event.type) {
      case 'UserRemoved': {
        const rows = await ctx.db
          .selectFrom('warden_tracker_assignments')
          .select('issue_id')
          .where('tenant_id', '=', event.data.tenantId)
          .where('user_id', '=', event.data.userId)
          .orderBy('issue_id')
          .execute();
        for (const row of rows) await unassign(ctx, row.issue_id, event.data.userId, event.data.at);
        return;
      }
      case 'IssueCreated':
        if (event.data.assigneeId) {
          await checkAssignee(
            ctx,
            event.data.tenantId,
            event.data.issueId,
            event.data.assigneeId,
            event.data.at,
          );
        }
        return;
      case 'IssueAssigned':
        await checkAssignee(
          ctx,
          event.data.tenantId,
          event.data.issueId,
          event.data.assigneeId,
          event.data.at,
        );
        return;
      case 'IssueUnassigned':
        await ctx.db
          .deleteFrom('warden_tracker_assignments')
          .where('issue_id', '=', event.data.issueId)
          .execute();
        return;
      case 'IssueStatusChanged': {
        // A reopened issue is open work again: its assignee must still be here.
        if (event.data.to !== 'open' || (event.data.from !== 'resolved' && event.data.from !== 'closed'))
          return;
        const row = await ctx.db
          .selectFrom('warden_tracker_assignments')
          .select(['user_id', 'tenant_id'])
          .where('issue_id', '=', event.data.issueId)
          .executeTakeFirst();
        if (row && !(await findUser(ctx.store, row.tenant_id, row.user_id))) {
          await unassign(ctx, event.data.issueId, row.user_id, event.data.at);
        }
        return;
      }
      default:
        return;
    }
  },
});
