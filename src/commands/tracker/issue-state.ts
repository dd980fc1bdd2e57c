import type { IssueEvent, IssueStatus, IssueType, Priority, Resolution } from './events.ts';

/* An issue's state and how its events fold into it (the `evolve` of the issue decider). */

export interface IssueFields {
  title: string;
  description: string;
  type: IssueType;
  priority: Priority;
  labels: string[];
  dueDate: string | null;
}

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
  /** Deleted (softly): gone from reads and lists until restored; its number stays taken. */
  deleted: boolean;
  createdAt: string;
  updatedAt: string;
}

export const initialState = (): IssueState => ({
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
  deleted: false,
  createdAt: '',
  updatedAt: '',
});

/** Folds one event into the issue's state. */
export function evolve(state: IssueState, event: IssueEvent): IssueState {
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
    case 'IssueDeleted':
      return { ...state, deleted: true, updatedAt: event.data.at };
    case 'IssueRestored':
      return { ...state, deleted: false, updatedAt: event.data.at };
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
