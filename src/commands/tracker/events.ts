import { z } from 'zod';
import type { DomainEvent } from '../kernel/index.ts';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../kernel/index.ts';

/** A project's short key, `WARD`: the prefix of its issues' keys, unique per tenant, never changed. */
export const ProjectKey = z
  .string()
  .trim()
  .regex(/^[A-Z][A-Z0-9]{1,9}$/, 'must be 2-10 uppercase letters or digits, starting with a letter');
export const ProjectName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .refine(isStorableText, STORABLE_TEXT_MESSAGE);
export const ProjectDescription = z
  .string()
  .max(10_000, 'must be at most 10,000 characters')
  .refine(isStorableText, STORABLE_TEXT_MESSAGE);
export const ProjectRole = z.enum(['lead', 'member', 'viewer']);
export type ProjectRole = z.infer<typeof ProjectRole>;
export const Label = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9._-]{0,39}$/, 'must be 1-40 lowercase letters, digits, ".", "_" or "-"');
export const Labels = z.array(Label).max(50, 'at most 50 labels');

export const IssueTitle = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(300, 'must be at most 300 characters')
  .refine(isStorableText, STORABLE_TEXT_MESSAGE);
/** Markdown stored as text. The limit keeps one issue (and the search vector built from it) bounded. */
export const MAX_DESCRIPTION_CHARS = 65_536;
export const IssueDescription = z
  .string()
  .max(MAX_DESCRIPTION_CHARS, `must be at most ${MAX_DESCRIPTION_CHARS} characters`)
  .refine(isStorableText, STORABLE_TEXT_MESSAGE);
export const IssueType = z.enum(['bug', 'task', 'story']);
export type IssueType = z.infer<typeof IssueType>;
export const priorities = ['lowest', 'low', 'medium', 'high', 'highest'] as const;
export const Priority = z.enum(priorities);
export type Priority = z.infer<typeof Priority>;
export const issueStatuses = ['open', 'in_progress', 'in_review', 'resolved', 'closed'] as const;
export const IssueStatus = z.enum(issueStatuses);
export type IssueStatus = z.infer<typeof IssueStatus>;
export const Resolution = z.enum(['fixed', 'wont_fix', 'duplicate', 'cannot_reproduce']);
export type Resolution = z.infer<typeof Resolution>;
/** A calendar date, `2026-12-31`, that exists (PostgreSQL's `date` has no year 0000). */
export const DueDate = z.iso
  .date('must be a date such as 2026-12-31')
  .refine((date) => !date.startsWith('0000'), 'must be in the years 0001 to 9999');
export const CommentBody = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(20_000, 'must be at most 20,000 characters')
  .refine(isStorableText, STORABLE_TEXT_MESSAGE);
/** Why an assignee was taken off an issue: by someone, or because they left the tenant. */
export const UnassignReason = z.enum(['manual', 'assignee_left_tenant']);

/** Why a member was taken off a project: by someone, or because they left the tenant. */
export const MemberRemovalReason = z.enum(['manual', 'member_left_tenant']);

/** What a saved filter lists: a project's issues (or the tenant's, without a project), or the projects. */
export const SavedFilterTarget = z.enum(['issues', 'projects']);
export type SavedFilterTarget = z.infer<typeof SavedFilterTarget>;
export const SavedFilterName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .refine(isStorableText, STORABLE_TEXT_MESSAGE);
/** The list's query string (`status=open&sort=-priority`), as the list parses it. */
export const SavedFilterQuery = z.string().max(2000, 'must be at most 2,000 characters');
/** A user keeps at most this many saved filters per tenant. */
export const MAX_SAVED_FILTERS = 100;

const at = z.iso.datetime();
const project = { projectId: z.uuid(), tenantId: z.uuid() };
const issue = { issueId: z.uuid(), projectId: z.uuid(), tenantId: z.uuid() };
/** Who did it: a user id, or `process:<name>` for a process manager. */
const by = z.string().min(1).max(200);

const IssueFields = z.object({
  title: IssueTitle,
  description: IssueDescription,
  type: IssueType,
  priority: Priority,
  labels: Labels,
  dueDate: DueDate.nullable(),
});

/** The event contract of the tracker context: these schemas are what is stored. */
export const trackerEventSchemas = {
  ProjectCreated: z.object({
    ...project,
    key: ProjectKey,
    name: ProjectName,
    description: ProjectDescription,
    labels: Labels,
    leadId: z.uuid(),
    leadEmail: z.string(),
    at,
  }),
  ProjectRenamed: z.object({ ...project, name: ProjectName, at, by }),
  ProjectDescribed: z.object({ ...project, description: ProjectDescription, at, by }),
  ProjectLabelsChanged: z.object({ ...project, labels: Labels, at, by }),
  ProjectArchived: z.object({ ...project, at, by }),
  ProjectMemberAdded: z.object({
    ...project,
    userId: z.uuid(),
    email: z.string(),
    role: ProjectRole,
    at,
    by,
  }),
  ProjectMemberRoleChanged: z.object({
    ...project,
    userId: z.uuid(),
    from: ProjectRole,
    to: ProjectRole,
    at,
    by,
  }),
  /** Version 2 says why: taken off by someone, or the user left the tenant (version 1 reads as `manual`). */
  ProjectMemberRemoved: z.object({ ...project, userId: z.uuid(), reason: MemberRemovalReason, at, by }),

  IssueCreated: z.object({
    ...issue,
    number: z.number().int().min(1),
    key: z.string(),
    ...IssueFields.shape,
    assigneeId: z.uuid().nullable(),
    reporterId: z.uuid(),
    at,
  }),
  IssueEdited: z.object({ ...issue, changes: IssueFields.partial(), at, by }),
  IssueAssigned: z.object({ ...issue, assigneeId: z.uuid(), previous: z.uuid().nullable(), at, by }),
  IssueUnassigned: z.object({ ...issue, previous: z.uuid(), reason: UnassignReason, at, by }),
  IssueStatusChanged: z.object({
    ...issue,
    from: IssueStatus,
    to: IssueStatus,
    resolution: Resolution.nullable(),
    duplicateOf: z.uuid().nullable(),
    /** Set when the move is a consequence, not a request (e.g. the assignee left the tenant). */
    reason: z.string().max(200).nullable(),
    at,
    by,
  }),
  CommentAdded: z.object({
    ...issue,
    commentId: z.uuid(),
    authorId: z.uuid(),
    body: CommentBody,
    mentions: z.array(z.uuid()),
    at,
  }),
  /** The previous body stays in the event log: an edit keeps its history. */
  CommentEdited: z.object({
    ...issue,
    commentId: z.uuid(),
    body: CommentBody,
    previousBody: z.string(),
    mentions: z.array(z.uuid()),
    at,
    by,
  }),
  CommentDeleted: z.object({ ...issue, commentId: z.uuid(), at, by }),
  /** Soft: the issue leaves every list and read, keeps its number and events, and can be restored. */
  IssueDeleted: z.object({ ...issue, at, by }),
  IssueRestored: z.object({ ...issue, at, by }),

  /** A user's own filters, one stream per user and tenant: only its owner sees or deletes them. */
  SavedFilterCreated: z.object({
    filterId: z.uuid(),
    tenantId: z.uuid(),
    ownerId: z.uuid(),
    name: SavedFilterName,
    target: SavedFilterTarget,
    projectId: z.uuid().nullable(),
    query: SavedFilterQuery,
    at,
  }),
  SavedFilterDeleted: z.object({ filterId: z.uuid(), tenantId: z.uuid(), ownerId: z.uuid(), at }),
} as const;

type Schemas = typeof trackerEventSchemas;
export type TrackerEvent = {
  [K in keyof Schemas]: DomainEvent<K, z.infer<Schemas[K]>>;
}[keyof Schemas];
export type TrackerEventType = TrackerEvent['type'];
export const trackerEventTypes = Object.keys(trackerEventSchemas) as TrackerEventType[];

export type ProjectEvent = Extract<TrackerEvent, { type: `Project${string}` }>;
export type SavedFilterEvent = Extract<TrackerEvent, { type: `SavedFilter${string}` }>;
export type IssueEvent = Exclude<TrackerEvent, ProjectEvent | SavedFilterEvent>;
export const projectEventTypes = trackerEventTypes.filter((t) =>
  t.startsWith('Project'),
) as ProjectEvent['type'][];
export const savedFilterEventTypes = trackerEventTypes.filter((t) =>
  t.startsWith('SavedFilter'),
) as SavedFilterEvent['type'][];
export const issueEventTypes = trackerEventTypes.filter(
  (t) => !t.startsWith('Project') && !t.startsWith('SavedFilter'),
) as IssueEvent['type'][];

export const projectStreamId = (projectId: string) => `tracker.Project-${projectId}`;
export const issueStreamId = (issueId: string) => `tracker.Issue-${issueId}`;
/** The saved filters of one user in one tenant (the id derives from both). */
export const savedFiltersStreamId = (id: string) => `tracker.SavedFilters-${id}`;
