import type { Actor, IssueEvent, IssueStatus, ProjectContext } from '../../src/commands/tracker/index.ts';

export const at = '2026-11-23T10:00:00.000Z';
export const tenantId = '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e';
export const projectId = '2d9e8f50-3b4c-4d5e-8f60-1a2b3c4d5e6f';
export const otherProjectId = '3e0f9a61-4c5d-4e6f-9a71-2b3c4d5e6f70';
export const issueId = '4f1a0b72-5d6e-4f70-8b82-3c4d5e6f7081';
export const otherIssueId = '5a2b1c83-6e7f-4081-9c93-4d5e6f708192';

/** The cast of the specs: a lead, two members, a viewer, an outsider and a tenant admin. */
export const people = {
  lead: '6b3c2d94-7f80-4192-8da4-5e6f708192a3',
  ann: '7c4d3ea5-8091-42a3-9eb5-6f708192a3b4',
  bob: '8d5e4fb6-91a2-43b4-afc6-708192a3b4c5',
  viv: '9e6f50c7-a2b3-44c5-b0d7-8192a3b4c5d6',
  out: 'af7061d8-b3c4-45d6-81e8-92a3b4c5d6e7',
  admin: 'b08172e9-c4d5-46e7-92f9-a3b4c5d6e7f8',
} as const;
export type Person = keyof typeof people;

export const actor = (who: Person): Actor => ({ userId: people[who], tenantAdmin: who === 'admin' });

export const project = (over: Partial<ProjectContext> = {}): ProjectContext => ({
  projectId,
  archived: false,
  labels: ['api', 'ui'],
  members: {
    [people.lead]: { role: 'lead', email: 'lead@example.com' },
    [people.ann]: { role: 'member', email: 'ann@example.com' },
    [people.bob]: { role: 'member', email: 'bob@example.com' },
    [people.viv]: { role: 'viewer', email: 'viv@example.com' },
  },
  ...over,
});

export const fields = {
  title: 'Login fails',
  description: 'Steps: …',
  type: 'bug' as const,
  priority: 'high' as const,
  labels: ['api'],
  dueDate: null,
};

export const created = (assigneeId: string | null = null): IssueEvent => ({
  type: 'IssueCreated',
  data: {
    issueId,
    projectId,
    tenantId,
    number: 1,
    key: 'WARD-1',
    ...fields,
    assigneeId,
    reporterId: people.ann,
    at,
  },
});

export const base = (by: Person) => ({ issueId, projectId, tenantId, at, by: people[by] });

export const moved = (
  from: IssueStatus,
  to: IssueStatus,
  by: Person,
  extra: {
    resolution?: 'fixed' | 'wont_fix' | 'duplicate' | 'cannot_reproduce';
    duplicateOf?: string;
    reason?: string;
  } = {},
): IssueEvent => ({
  type: 'IssueStatusChanged',
  data: {
    ...base(by),
    from,
    to,
    resolution: extra.resolution ?? null,
    duplicateOf: extra.duplicateOf ?? null,
    reason: extra.reason ?? null,
  },
});
