import { describe, it } from 'vitest';
import { projectDecider } from '../../src/commands/tracker/index.ts';
import { specFor } from '../support/decider-spec.ts';
import { actor, at, people, projectId, tenantId } from './support.ts';

const spec = specFor(projectDecider);
const createdProject = {
  type: 'ProjectCreated' as const,
  data: {
    projectId,
    tenantId,
    key: 'WARD',
    name: 'Warden',
    description: '',
    labels: ['api'],
    leadId: people.lead,
    leadEmail: 'lead@example.com',
    at,
  },
};
const base = (by: string) => ({ projectId, tenantId, at, by });

describe('project decider', () => {
  it('creates a project whose creator is its lead; a second creation of the key is a conflict', () => {
    const { type: _, ...data } = createdProject;
    spec
      .given([])
      .when({ type: 'CreateProject', ...data.data })
      .thenEvents([createdProject]);
    spec
      .given([createdProject])
      .when({ type: 'CreateProject', ...createdProject.data })
      .thenFails('CONFLICT');
  });

  it('lets the lead or a tenant admin manage it, nobody else', () => {
    spec
      .given([createdProject])
      .when({ type: 'RenameProject', name: 'W', actor: actor('lead'), at })
      .thenEvents([{ type: 'ProjectRenamed', data: { ...base(people.lead), name: 'W' } }]);
    spec
      .given([createdProject])
      .when({ type: 'ChangeLabels', labels: ['api', 'ui'], actor: actor('admin'), at })
      .thenEvents([{ type: 'ProjectLabelsChanged', data: { ...base(people.admin), labels: ['api', 'ui'] } }]);
    spec
      .given([createdProject])
      .when({ type: 'RenameProject', name: 'W', actor: actor('ann'), at })
      .thenFails('FORBIDDEN', 'project_management');
  });

  it('adds members and changes their role, but keeps at least one lead', () => {
    spec
      .given([createdProject])
      .when({
        type: 'SetMember',
        userId: people.ann,
        email: 'ann@example.com',
        role: 'member',
        actor: actor('lead'),
        at,
      })
      .thenEvents([
        {
          type: 'ProjectMemberAdded',
          data: { ...base(people.lead), userId: people.ann, email: 'ann@example.com', role: 'member' },
        },
      ]);
    spec
      .given([createdProject])
      .when({
        type: 'SetMember',
        userId: people.lead,
        email: 'lead@example.com',
        role: 'member',
        actor: actor('admin'),
        at,
      })
      .thenFails('RULE_VIOLATED', 'project_needs_lead');
    spec
      .given([createdProject])
      .when({ type: 'RemoveMember', userId: people.lead, actor: actor('admin'), at })
      .thenFails('RULE_VIOLATED', 'project_needs_lead');
  });

  it('takes a member who left the tenant off, even the last lead or in an archived project, once', () => {
    const annAdded = {
      type: 'ProjectMemberAdded' as const,
      data: { ...base(people.lead), userId: people.ann, email: 'ann@example.com', role: 'member' as const },
    };
    const by = 'process:projectMemberships';
    const left = (userId: string) => ({
      type: 'ProjectMemberRemoved' as const,
      data: { projectId, tenantId, userId, reason: 'member_left_tenant' as const, at, by },
    });
    spec
      .given([createdProject, annAdded])
      .when({ type: 'RemoveLeftMember', userId: people.ann, by, at })
      .thenEvents([left(people.ann)]);
    spec
      .given([createdProject, { type: 'ProjectArchived', data: base(people.lead) }])
      .when({ type: 'RemoveLeftMember', userId: people.lead, by, at })
      .thenEvents([left(people.lead)]);
    // A repeat (redelivery, restart) or a user who was never a member: nothing.
    spec
      .given([createdProject, annAdded, left(people.ann)])
      .when({ type: 'RemoveLeftMember', userId: people.ann, by, at })
      .thenEvents([]);
    spec.given([]).when({ type: 'RemoveLeftMember', userId: people.ann, by, at }).thenEvents([]);
  });

  it('says a removal by someone is manual', () => {
    const annAdded = {
      type: 'ProjectMemberAdded' as const,
      data: { ...base(people.lead), userId: people.ann, email: 'ann@example.com', role: 'member' as const },
    };
    spec
      .given([createdProject, annAdded])
      .when({ type: 'RemoveMember', userId: people.ann, actor: actor('lead'), at })
      .thenEvents([
        {
          type: 'ProjectMemberRemoved',
          data: { ...base(people.lead), userId: people.ann, reason: 'manual' },
        },
      ]);
  });

  it('an archived project changes no more', () => {
    spec
      .given([createdProject, { type: 'ProjectArchived', data: base(people.lead) }])
      .when({ type: 'RenameProject', name: 'W', actor: actor('lead'), at })
      .thenFails('RULE_VIOLATED', 'project_archived');
  });

  it('renames, describes and relabels in one decision: every change or none', () => {
    spec
      .given([createdProject])
      .when({
        type: 'EditProject',
        name: 'W',
        description: 'the firewall',
        labels: ['api', 'ui', 'ui'],
        actor: actor('lead'),
        at,
      })
      .thenEvents([
        { type: 'ProjectRenamed', data: { ...base(people.lead), name: 'W' } },
        { type: 'ProjectDescribed', data: { ...base(people.lead), description: 'the firewall' } },
        { type: 'ProjectLabelsChanged', data: { ...base(people.lead), labels: ['api', 'ui'] } },
      ]);
    // What is unchanged appends nothing; the rest still does.
    spec
      .given([createdProject])
      .when({ type: 'EditProject', name: 'Warden', labels: ['api', 'ui'], actor: actor('admin'), at })
      .thenEvents([{ type: 'ProjectLabelsChanged', data: { ...base(people.admin), labels: ['api', 'ui'] } }]);
    // Archived (by someone else, after the caller read the project): the rename is refused with the rest.
    spec
      .given([createdProject, { type: 'ProjectArchived', data: base(people.admin) }])
      .when({ type: 'EditProject', name: 'W', labels: ['ui'], actor: actor('lead'), at })
      .thenFails('RULE_VIOLATED', 'project_archived');
    spec
      .given([createdProject])
      .when({ type: 'EditProject', name: 'W', labels: ['ui'], actor: actor('ann'), at })
      .thenFails('FORBIDDEN', 'project_management');
  });
});
