import { z } from 'zod';
import {
  CommentBody,
  DueDate,
  IssueDescription,
  IssueStatus,
  IssueTitle,
  IssueType,
  issueStatuses,
  Label,
  Labels,
  Priority,
  ProjectDescription,
  ProjectKey,
  ProjectName,
  ProjectRole,
  priorities,
  Resolution,
} from '../../commands/tracker/index.ts';
import { issueSorts, projectSorts } from '../../projections/tracker/index.ts';

export const Project = z
  .object({
    id: z.uuid(),
    key: z.string(),
    name: z.string(),
    description: z.string(),
    labels: z.array(z.string()),
    archived: z.boolean(),
    members: z.array(z.object({ user_id: z.uuid(), email: z.string(), role: ProjectRole })),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    revision: z.number().int(),
  })
  .meta({ id: 'Project' });
export const ProjectSummary = Project.omit({ members: true })
  .extend({
    member_count: z.number().int(),
    rank: z.number().optional().meta({ description: 'Search relevance, with q' }),
  })
  .meta({ id: 'ProjectSummary' });

export const CreateProjectBody = z.strictObject({
  key: ProjectKey,
  name: ProjectName,
  description: ProjectDescription.default(''),
  labels: Labels.default([]),
});
export const PatchProjectBody = z
  .strictObject({ name: ProjectName, description: ProjectDescription, labels: Labels })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'name a field to change');
export const MemberBody = z.strictObject({ role: ProjectRole });

export const Issue = z
  .object({
    id: z.uuid(),
    key: z.string(),
    number: z.number().int(),
    project_id: z.uuid(),
    title: z.string(),
    description: z.string(),
    type: IssueType,
    priority: Priority,
    labels: z.array(z.string()),
    status: IssueStatus,
    resolution: Resolution.nullable(),
    duplicate_of: z.uuid().nullable(),
    assignee_id: z.uuid().nullable(),
    reporter_id: z.uuid(),
    due_date: z.string().nullable(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    revision: z.number().int(),
  })
  .meta({ id: 'Issue' });
export const IssueSummary = Issue.omit({ description: true })
  .extend({ rank: z.number().optional().meta({ description: 'Search relevance, with q' }) })
  .meta({ id: 'IssueSummary' });

export const CreateIssueBody = z.strictObject({
  title: IssueTitle,
  description: IssueDescription.default(''),
  type: IssueType.default('task'),
  priority: Priority.default('medium'),
  labels: Labels.default([]),
  assignee_id: z.uuid().nullable().default(null),
  due_date: DueDate.nullable().default(null),
});
export const PatchIssueBody = z
  .strictObject({
    title: IssueTitle,
    description: IssueDescription,
    type: IssueType,
    priority: Priority,
    labels: Labels,
    due_date: DueDate.nullable(),
    assignee_id: z.uuid().nullable(),
  })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'name a field to change');
export const TransitionBody = z.strictObject({
  to: IssueStatus,
  resolution: Resolution.optional(),
  duplicate_of: z
    .string()
    .max(60)
    .optional()
    .meta({ description: 'Id or key (WARD-7) of the original issue' }),
});
export const CommentBodySchema = z.strictObject({ body: CommentBody });
export const Comment = z
  .object({
    id: z.uuid(),
    author_id: z.uuid(),
    body: z.string(),
    mentions: z.array(z.uuid()),
    created_at: z.iso.datetime(),
    edited_at: z.iso.datetime().nullable(),
  })
  .meta({ id: 'Comment' });

const list = (values: readonly string[]) => new RegExp(`^(${values.join('|')})(,(${values.join('|')}))*$`);
/** A date or date-time the database can compare with (it has no year 0000; an offset can reach it). */
const when = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .refine((v) => {
    const year = new Date(v).getUTCFullYear();
    return year >= 1 && year <= 9999;
  }, 'must be in the years 0001 to 9999')
  .meta({ description: 'A date or date-time (ISO 8601)' });

/** What every tracker list's query takes: paging, labels, created/updated ranges, full-text `q`. */
const sharedListFields = {
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
  label: z
    .string()
    .max(500)
    .refine((v) => v.split(',').every((l) => Label.safeParse(l).success), 'comma-separated labels')
    .optional(),
  created_from: when.optional(),
  created_to: when.optional(),
  updated_from: when.optional(),
  updated_to: when.optional(),
  q: z.string().trim().min(1).max(200).optional(),
};

export const IssueListQuery = z.strictObject({
  ...sharedListFields,
  status: z
    .string()
    .regex(list(issueStatuses), `comma-separated of ${issueStatuses.join(', ')}`)
    .optional(),
  priority: z
    .string()
    .regex(list(priorities), `comma-separated of ${priorities.join(', ')}`)
    .optional(),
  type: z.string().regex(list(IssueType.options), 'comma-separated of bug, task, story').optional(),
  assignee: z.union([z.uuid(), z.literal('none')]).optional(),
  reporter: z.uuid().optional(),
  sort: z.enum(issueSorts).optional().meta({ description: 'Default -created_at, or relevance with q' }),
});
export type IssueListQuery = z.infer<typeof IssueListQuery>;

export const ProjectListQuery = z.strictObject({
  ...sharedListFields,
  archived: z.enum(['true', 'false']).optional(),
  sort: z.enum(projectSorts).optional().meta({ description: 'Default key, or relevance with q' }),
});
export type ProjectListQuery = z.infer<typeof ProjectListQuery>;
