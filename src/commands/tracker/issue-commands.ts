import type { Actor, ProjectContext } from './access.ts';
import type { IssueStatus, Resolution } from './events.ts';
import type { IssueFields } from './issue-state.ts';

/** Every user command carries its actor and the project as the handler read it; decide stays pure. */
interface Acting {
  actor: Actor;
  project: ProjectContext;
  at: string;
}

export type IssueCommand =
  | ({
      type: 'CreateIssue';
      issueId: string;
      tenantId: string;
      number: number;
      key: string;
      assigneeId: string | null;
      fields: IssueFields;
    } & Acting)
  | ({
      type: 'EditIssue';
      changes: Partial<IssueFields>;
      /** Also (un)assign, in the same decision: both are recorded, or neither. Undefined: unchanged. */
      assigneeId?: string | null;
    } & Acting)
  | ({ type: 'AssignIssue'; assigneeId: string | null } & Acting)
  | ({
      type: 'TransitionIssue';
      to: IssueStatus;
      resolution?: Resolution;
      /** The issue named by `duplicate_of` as the handler found it (`found: null`: no such issue). */
      duplicateOf?: { issueId: string; found: { projectId: string } | null };
    } & Acting)
  | ({ type: 'AddComment'; commentId: string; body: string } & Acting)
  | ({ type: 'EditComment'; commentId: string; body: string } & Acting)
  | ({ type: 'DeleteComment'; commentId: string } & Acting)
  | ({ type: 'DeleteIssue' } & Acting)
  | ({ type: 'RestoreIssue' } & Acting)
  /** From the process manager: the user left the tenant, so their open work goes back to the pool. */
  | { type: 'UnassignLeftUser'; userId: string; by: string; at: string };
