import type { Decider } from '../kernel/index.ts';
import { conflict, notFound, ruleViolated, validated } from '../kernel/index.ts';
import { type Actor, invalidBy, type ProjectContext, refused, requireWriter, roleIn } from './access.ts';
import { type IssueEvent, trackerEventSchemas } from './events.ts';
import type { IssueCommand } from './issue-commands.ts';
import { evolve, type IssueFields, type IssueState, initialState } from './issue-state.ts';
import { transition, unassignLeftUser } from './issue-workflow.ts';
import { workStatuses } from './rules.ts';

export type { IssueCommand } from './issue-commands.ts';
export type { IssueComment, IssueFields, IssueState } from './issue-state.ts';

const MENTION = /(?<![\w.+-])@([\w.+-]+@[\w-]+(?:\.[\w-]+)+)/g;

/** Project members mentioned as `@email` in a text, in order of first mention. */
export function mentionsIn(body: string, project: ProjectContext): string[] {
  const byEmail = new Map(Object.entries(project.members).map(([id, m]) => [m.email.toLowerCase(), id]));
  const found: string[] = [];
  for (const match of body.matchAll(MENTION)) {
    const id = byEmail.get(match[1]!.toLowerCase().replace(/\.$/, ''));
    if (id && !found.includes(id)) found.push(id);
  }
  return found;
}

function checkAssignee(project: ProjectContext, assigneeId: string | null): void {
  if (assigneeId === null) return;
  const role = roleIn(project, assigneeId);
  if (role !== 'lead' && role !== 'member') {
    throw invalidBy('assignee_must_be_member', [
      { path: 'assignee_id', message: 'must be a project member with role lead or member' },
    ]);
  }
}

function checkLabels(project: ProjectContext, labels: readonly string[] | undefined): void {
  if (!labels) return;
  const unknown = labels.filter((l) => !project.labels.includes(l));
  if (unknown.length > 0) {
    throw invalidBy('known_labels', [
      {
        path: 'labels',
        message: `unknown label(s) ${unknown.join(', ')}; the project has ${project.labels.join(', ') || 'none'}`,
      },
    ]);
  }
}

/** (Un)assigning the issue: nothing when it is already so; unassigning work under way is refused. */
function assign(
  assigneeId: string | null,
  state: IssueState,
  project: ProjectContext,
  base: { issueId: string; projectId: string; tenantId: string; at: string; by: string },
): IssueEvent[] {
  if (assigneeId === state.assigneeId) return [];
  if (assigneeId === null) {
    if (workStatuses.includes(state.status)) {
      throw ruleViolated(
        'in_progress_needs_assignee',
        `an issue ${state.status} needs an assignee: move it back to open first`,
      );
    }
    return [{ type: 'IssueUnassigned', data: { ...base, previous: state.assigneeId!, reason: 'manual' } }];
  }
  checkAssignee(project, assigneeId);
  return [{ type: 'IssueAssigned', data: { ...base, assigneeId, previous: state.assigneeId } }];
}

function decide(command: IssueCommand, state: IssueState): IssueEvent[] {
  if (command.type === 'UnassignLeftUser') return unassignLeftUser(command, state);
  const { actor, project, at } = command;
  if (command.type === 'CreateIssue') {
    if (state.exists) throw conflict(`issue ${state.key} already exists`);
    requireWriter(project, actor);
    if (project.archived)
      throw ruleViolated('project_archived', 'the project is archived: it takes no new issues');
    checkAssignee(project, command.assigneeId);
    checkLabels(project, command.fields.labels);
    const { fields } = command;
    return [
      {
        type: 'IssueCreated',
        data: {
          issueId: command.issueId,
          projectId: project.projectId,
          tenantId: command.tenantId,
          number: command.number,
          key: command.key,
          ...fields,
          labels: [...new Set(fields.labels)],
          assigneeId: command.assigneeId,
          reporterId: actor.userId,
          at,
        },
      },
    ];
  }
  if (!state.exists) throw notFound('issue');
  if (command.type === 'DeleteIssue' || command.type === 'RestoreIssue') {
    return deleteOrRestore(command.type, state, actor, at);
  }
  // A deleted issue is gone for every other command, as for reads.
  if (state.deleted) throw notFound('issue');
  requireWriter(project, actor);
  if (project.archived)
    throw ruleViolated('project_archived', 'the project is archived: its issues change no more');
  const reopening = command.type === 'TransitionIssue' && command.to === 'open';
  if (state.status === 'closed' && !reopening) {
    throw ruleViolated('closed_is_final', 'the issue is closed: reopen it to change it');
  }
  const base = {
    issueId: state.issueId,
    projectId: state.projectId,
    tenantId: state.tenantId,
    at,
    by: actor.userId,
  };

  switch (command.type) {
    case 'EditIssue': {
      checkLabels(project, command.changes.labels);
      const changes: Partial<IssueFields> = {};
      const c = command.changes;
      if (c.title !== undefined && c.title !== state.title) changes.title = c.title;
      if (c.description !== undefined && c.description !== state.description)
        changes.description = c.description;
      if (c.type !== undefined && c.type !== state.type) changes.type = c.type;
      if (c.priority !== undefined && c.priority !== state.priority) changes.priority = c.priority;
      if (c.dueDate !== undefined && c.dueDate !== state.dueDate) changes.dueDate = c.dueDate;
      if (c.labels !== undefined) {
        const labels = [...new Set(c.labels)];
        const same = labels.length === state.labels.length && labels.every((l) => state.labels.includes(l));
        if (!same) changes.labels = labels;
      }
      const edited: IssueEvent[] =
        Object.keys(changes).length === 0 ? [] : [{ type: 'IssueEdited', data: { ...base, changes } }];
      // An edit that also (un)assigns is one decision: a refused assignment refuses the edit too.
      const assigned =
        command.assigneeId === undefined ? [] : assign(command.assigneeId, state, project, base);
      return [...edited, ...assigned];
    }
    case 'AssignIssue':
      return assign(command.assigneeId, state, project, base);
    case 'TransitionIssue':
      return transition(command, state, base);
    case 'AddComment':
      return [
        {
          type: 'CommentAdded',
          data: {
            issueId: base.issueId,
            projectId: base.projectId,
            tenantId: base.tenantId,
            commentId: command.commentId,
            authorId: actor.userId,
            body: command.body,
            mentions: mentionsIn(command.body, project),
            at,
          },
        },
      ];
    case 'EditComment': {
      const comment = state.comments[command.commentId];
      if (!comment || comment.deleted) throw notFound('comment');
      if (comment.authorId !== actor.userId) {
        throw refused('comment_author_only', 'only its author edits a comment');
      }
      if (comment.body === command.body) return [];
      return [
        {
          type: 'CommentEdited',
          data: {
            ...base,
            commentId: command.commentId,
            body: command.body,
            previousBody: comment.body,
            mentions: mentionsIn(command.body, project),
          },
        },
      ];
    }
    case 'DeleteComment': {
      const comment = state.comments[command.commentId];
      if (!comment || comment.deleted) throw notFound('comment');
      if (
        comment.authorId !== actor.userId &&
        !actor.tenantAdmin &&
        roleIn(project, actor.userId) !== 'lead'
      ) {
        throw refused(
          'comment_delete_role',
          'a comment is deleted by its author, a project lead or a tenant admin',
        );
      }
      return [{ type: 'CommentDeleted', data: { ...base, commentId: command.commentId } }];
    }
  }
}

/**
 * Rule `issue_delete_admins`: only a tenant admin (owner, admin, platform superadmin) deletes or
 * restores an issue, whatever its state or its project's; deleting a deleted issue (or restoring a
 * live one) changes nothing.
 */
function deleteOrRestore(
  type: 'DeleteIssue' | 'RestoreIssue',
  state: IssueState,
  actor: Actor,
  at: string,
): IssueEvent[] {
  if (!actor.tenantAdmin) {
    throw refused('issue_delete_admins', 'only a tenant owner or admin deletes or restores an issue');
  }
  const data = {
    issueId: state.issueId,
    projectId: state.projectId,
    tenantId: state.tenantId,
    at,
    by: actor.userId,
  };
  if (type === 'DeleteIssue') return state.deleted ? [] : [{ type: 'IssueDeleted', data }];
  return state.deleted ? [{ type: 'IssueRestored', data }] : [];
}

/**
 * An issue of a project. Its id derives from (project, number), so the number is claimed by creating
 * the stream: two creations of one number race for one stream and the store lets exactly one win.
 */
export const issueDecider: Decider<IssueCommand, IssueEvent, IssueState> = validated(
  { initialState, decide, evolve },
  trackerEventSchemas,
);
