import type { IssueStatus } from './events.ts';

/**
 * The status state machine: from each status, where a transition may go. `open` from `resolved` or
 * `closed` is a reopen (it clears the resolution). Anything else is rule `transition_not_allowed`.
 */
export const transitions: Readonly<Record<IssueStatus, readonly IssueStatus[]>> = {
  open: ['in_progress', 'resolved'],
  in_progress: ['open', 'in_review', 'resolved'],
  in_review: ['open', 'in_progress', 'resolved'],
  resolved: ['open', 'closed'],
  closed: ['open'],
};

/** Statuses in which someone works on the issue: they need an assignee. */
export const workStatuses: readonly IssueStatus[] = ['in_progress', 'in_review'];
/** Statuses counted as open work (the process manager unassigns a leaving user from these). */
export const openStatuses: readonly IssueStatus[] = ['open', 'in_progress', 'in_review'];

/** The business rules, by the code a refusal names (problem+json `rule`). The README renders this table. */
export const trackerRules = [
  ['members_only', 403, 'Only project members (lead or member) and tenant admins change a project’s issues.'],
  ['viewers_read_only', 403, 'Project viewers cannot change anything.'],
  [
    'project_management',
    403,
    'Only the project lead or a tenant admin renames, describes, archives or manages members and labels.',
  ],
  ['project_archived', 409, 'An archived project and its issues change no more.'],
  ['project_needs_lead', 409, 'The last lead of a project can neither leave nor step down.'],
  ['transition_not_allowed', 409, 'A status change must follow the state machine.'],
  [
    'in_progress_needs_assignee',
    409,
    'Moving to in_progress or in_review needs an assignee; an issue in those states cannot be unassigned (only the process manager does, moving it back to open, when the assignee leaves the tenant).',
  ],
  [
    'resolution_required',
    409,
    'Moving to resolved needs a resolution: fixed, wont_fix, duplicate or cannot_reproduce; other moves take none.',
  ],
  [
    'duplicate_needs_original',
    409,
    'Resolution duplicate needs duplicate_of: another existing issue of the same project.',
  ],
  ['resolver_role', 403, 'Only the assignee, a project lead or a tenant admin may resolve.'],
  ['closed_is_final', 409, 'A closed issue changes only by reopening it (no edits, assignment or comments).'],
  ['assignee_must_be_member', 422, 'The assignee must be a project member with role lead or member.'],
  ['known_labels', 422, 'Labels must be among the project’s labels.'],
  ['comment_author_only', 403, 'Only its author edits a comment (the previous text stays in the history).'],
  [
    'comment_delete_role',
    403,
    'A comment is deleted (softly, recorded) by its author, a project lead or a tenant admin.',
  ],
] as const satisfies readonly (readonly [string, number, string])[];
export type TrackerRule = (typeof trackerRules)[number][0];

/** The state machine and the rules as Markdown (the README carries them; a test keeps them equal). */
export function trackerRulesMarkdown(): string {
  return [
    '| from | may move to |',
    '| --- | --- |',
    ...Object.entries(transitions).map(
      ([from, to]) => `| \`${from}\` | ${to.map((s) => `\`${s}\``).join(', ')} |`,
    ),
    '',
    '| rule | status | what it enforces |',
    '| --- | --- | --- |',
    ...trackerRules.map(([rule, status, text]) => `| \`${rule}\` | ${status} | ${text} |`),
  ].join('\n');
}
