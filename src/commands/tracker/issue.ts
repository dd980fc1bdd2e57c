import { validated } from '../kernel/contract.ts';
import type { Decider } from '../kernel/decider.ts';
import { conflict, notFound, ruleViolated } from '../kernel/errors.ts';
import { type Actor, invalidBy, type ProjectContext, refused, requireWriter, roleIn } from './access.ts';
import {
  type IssueEvent,
  type IssueStatus,
  type IssueType,
  type Priority,
  type Resolution,
  trackerEventSchemas,
} from './events.ts';
import { transitions, workStatuses } from './rules.ts';

export interface IssueComment {
  authorId: string;
  body: string;
  deleted: boolean;
}

export interface IssueState {
  exists: boolean;
  issueId: string;
  tenantId: string;
  projectId: string;
  number: number;
  key: string;
  title: string;
  description: string;
  type: IssueType;
  priority: Priority;
  labels: string[];
  dueDate: string | null;
  assigneeId: string | null;
  reporterId: string;
  status: IssueStatus;
  resolution: Resolution | null;
  duplicateOf: string | null;
  comments: Record<string, IssueComment>;
  createdAt: string;
  updatedAt: string;
}

export interface IssueFields {
  title: string;
  description: string;
  type: IssueType;
  priority: Priority;
  labels: string[];
  dueDate: string | null;
}

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
  | ({ type: 'EditIssue'; changes: Partial<IssueFields> } & Acting)
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
  /** From the process manager: the user left the tenant, so their open work goes back to the pool. */
  | { type: 'UnassignLeftUser'; userId: string; by: string; at: string };

const initialState = (): IssueState => ({
  exists: false,
  issueId: '',
  tenantId: '',
  projectId: '',
  number: 0,
  key: '',
  title: '',
  description: '',
  type: 'task',
  priority: 'medium',
  labels: [],
  dueDate: null,
  assigneeId: null,
  reporterId: '',
  status: 'open',
  resolution: null,
  duplicateOf: null,
  comments: {},
  createdAt: '',
  updatedAt: '',
});

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
      return Object.keys(changes).length === 0 ? [] : [{ type: 'IssueEdited', data: { ...base, changes } }];
    }
    case 'AssignIssue': {
      if (command.assigneeId === state.assigneeId) return [];
      if (command.assigneeId === null) {
        if (workStatuses.includes(state.status)) {
          throw ruleViolated(
            'in_progress_needs_assignee',
            `an issue ${state.status} needs an assignee: move it back to open first`,
          );
        }
        return [
          { type: 'IssueUnassigned', data: { ...base, previous: state.assigneeId!, reason: 'manual' } },
        ];
      }
      checkAssignee(project, command.assigneeId);
      return [
        {
          type: 'IssueAssigned',
          data: { ...base, assigneeId: command.assigneeId, previous: state.assigneeId },
        },
      ];
    }
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

function transition(
  command: Extract<IssueCommand, { type: 'TransitionIssue' }>,
  state: IssueState,
  base: { issueId: string; projectId: string; tenantId: string; at: string; by: string },
): IssueEvent[] {
  const { to, actor, project } = command;
  if (!transitions[state.status].includes(to)) {
    throw ruleViolated(
      'transition_not_allowed',
      `an issue cannot move from ${state.status} to ${to}; from ${state.status} it may go to ${transitions[state.status].join(', ')}`,
    );
  }
  if (workStatuses.includes(to) && state.assigneeId === null) {
    throw ruleViolated('in_progress_needs_assignee', `moving to ${to} needs an assignee`);
  }
  if (to !== 'resolved') {
    if (command.resolution !== undefined || command.duplicateOf !== undefined) {
      throw ruleViolated('resolution_required', 'only a move to resolved takes a resolution');
    }
    // Closing keeps the resolution it was resolved with; every other move (a reopen) clears it.
    const closing = to === 'closed';
    return [
      {
        type: 'IssueStatusChanged',
        data: {
          ...base,
          from: state.status,
          to,
          resolution: closing ? state.resolution : null,
          duplicateOf: closing ? state.duplicateOf : null,
          reason: null,
        },
      },
    ];
  }
  if (command.resolution === undefined) {
    throw ruleViolated(
      'resolution_required',
      'resolving needs a resolution: fixed, wont_fix, duplicate or cannot_reproduce',
    );
  }
  let duplicateOf: string | null = null;
  if (command.resolution === 'duplicate') {
    const target = command.duplicateOf;
    if (!target) throw ruleViolated('duplicate_needs_original', 'resolution duplicate needs duplicate_of');
    if (target.issueId === state.issueId) {
      throw ruleViolated('duplicate_needs_original', 'an issue cannot duplicate itself');
    }
    if (!target.found || target.found.projectId !== state.projectId) {
      throw ruleViolated(
        'duplicate_needs_original',
        'duplicate_of must be an existing issue of the same project',
      );
    }
    duplicateOf = target.issueId;
  } else if (command.duplicateOf !== undefined) {
    throw ruleViolated('duplicate_needs_original', 'duplicate_of goes only with resolution duplicate');
  }
  const mayResolve =
    actor.tenantAdmin || actor.userId === state.assigneeId || roleIn(project, actor.userId) === 'lead';
  if (!mayResolve)
    throw refused('resolver_role', 'only the assignee, a project lead or a tenant admin may resolve');
  return [
    {
      type: 'IssueStatusChanged',
      data: { ...base, from: state.status, to, resolution: command.resolution, duplicateOf, reason: null },
    },
  ];
}

function unassignLeftUser(
  command: Extract<IssueCommand, { type: 'UnassignLeftUser' }>,
  state: IssueState,
): IssueEvent[] {
  if (!state.exists || state.assigneeId !== command.userId) return [];
  if (state.status === 'resolved' || state.status === 'closed') return [];
  const base = {
    issueId: state.issueId,
    projectId: state.projectId,
    tenantId: state.tenantId,
    at: command.at,
    by: command.by,
  };
  const events: IssueEvent[] = [
    { type: 'IssueUnassigned', data: { ...base, previous: command.userId, reason: 'assignee_left_tenant' } },
  ];
  if (workStatuses.includes(state.status)) {
    events.push({
      type: 'IssueStatusChanged',
      data: {
        ...base,
        from: state.status,
        to: 'open',
        resolution: null,
        duplicateOf: null,
        reason: 'assignee_left_tenant',
      },
    });
  }
  return events;
}

function evolve(state: IssueState, event: IssueEvent): IssueState {
  switch (event.type) {
    case 'IssueCreated': {
      const d = event.data;
      return {
        ...initialState(),
        exists: true,
        issueId: d.issueId,
        tenantId: d.tenantId,
        projectId: d.projectId,
        number: d.number,
        key: d.key,
        title: d.title,
        description: d.description,
        type: d.type,
        priority: d.priority,
        labels: d.labels,
        dueDate: d.dueDate,
        assigneeId: d.assigneeId,
        reporterId: d.reporterId,
        createdAt: d.at,
        updatedAt: d.at,
      };
    }
    case 'IssueEdited':
      return {
        ...state,
        ...(Object.fromEntries(
          Object.entries(event.data.changes).filter(([, value]) => value !== undefined),
        ) as Partial<IssueFields>),
        updatedAt: event.data.at,
      };
    case 'IssueAssigned':
      return { ...state, assigneeId: event.data.assigneeId, updatedAt: event.data.at };
    case 'IssueUnassigned':
      return { ...state, assigneeId: null, updatedAt: event.data.at };
    case 'IssueStatusChanged':
      return {
        ...state,
        status: event.data.to,
        resolution: event.data.resolution,
        duplicateOf: event.data.duplicateOf,
        updatedAt: event.data.at,
      };
    case 'CommentAdded':
      return {
        ...state,
        comments: {
          ...state.comments,
          [event.data.commentId]: { authorId: event.data.authorId, body: event.data.body, deleted: false },
        },
      };
    case 'CommentEdited': {
      const comment = state.comments[event.data.commentId];
      if (!comment) return state;
      return {
        ...state,
        comments: { ...state.comments, [event.data.commentId]: { ...comment, body: event.data.body } },
      };
    }
    case 'CommentDeleted': {
      const comment = state.comments[event.data.commentId];
      if (!comment) return state;
      return {
        ...state,
        comments: { ...state.comments, [event.data.commentId]: { ...comment, deleted: true } },
      };
    }
    default:
      return state;
  }
}

/**
 * An issue of a project. Its id derives from (project, number), so the number is claimed by creating
 * the stream: two creations of one number race for one stream and the store lets exactly one win.
 */
export const issueDecider: Decider<IssueCommand, IssueEvent, IssueState> = validated(
  { initialState, decide, evolve },
  trackerEventSchemas,
);
